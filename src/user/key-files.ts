/**
 * The user's own key files (known_hosts, authorized_keys, authorized_user_ids): read with
 * the checks sshd applies (StrictModes: owned by the user or root, not writable by group or
 * others, up to the home directory; regular files only, bounded, never blocking on a FIFO),
 * created as the original creates them (directories 0700, files 0600), and replaced
 * atomically under a lock that is taken only for the edit itself (never across a keyserver
 * lookup), so a failure leaves the old file whole.
 */
import { mkdirSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { EnvironmentError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../files/atomic.js';
import { acquireLock } from '../files/lock.js';
import { readUserFiles } from '../files/user-file.js';

/** Larger key files are refused. */
export const MAX_KEY_FILE = 64 * 1024 * 1024;

export interface ReadOwnOptions {
  strictModes: boolean;
  /** The home the StrictModes walk stops at. */
  home: string;
  /** Names the file in messages: `known_hosts file`, say. */
  what: string;
}

/**
 * The file's text; undefined when it does not exist.
 * @throws EnvironmentError (MS_USER_FILE_PERMISSIONS) when it is refused, with the original's wording.
 */
export function readOwnFile(path: string, opts: ReadOwnOptions): string | undefined {
  const me = userInfo();
  const [r] = readUserFiles([path], { name: me.username, uid: me.uid, gid: me.gid, home: opts.home }, { maxBytes: MAX_KEY_FILE, strictModes: opts.strictModes });
  switch (r.status) {
    case 'absent':
      return undefined;
    case 'read':
      return r.bytes.toString('utf8');
    default:
      throw new EnvironmentError('MS_USER_FILE_PERMISSIONS', `Bad permissions governing ${opts.what} ${path}: ${r.reason}`, { hints: [fileHint(r.reason, opts.strictModes)] });
  }
}

/** What to do about a refused file: only the advice that fits the reason. */
function fileHint(reason: string, strictModes: boolean): string {
  if (/not a regular file/.test(reason)) return 'replace it with a regular file (monkeysphere never reads FIFOs, devices or directories)';
  if (/larger than/.test(reason)) return `keep it under ${MAX_KEY_FILE} bytes`;
  if (strictModes && /ownership|writability/.test(reason)) return 'make the file and the directories above it owned by you and not writable by group or others (or set STRICT_MODES=false)';
  return 'make the file readable by you';
}

/** Creates the file (and its directory, 0700) when missing, as the original's touch_key_file_or_fail. */
export function touchKeyFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new EnvironmentError('MS_USER_FILE_CREATE', `Unable to create ${path}: ${errorMessage(err)}`, { cause: err });
    writeFileAtomic(path, '', { mode: 0o600 });
  }
}

/**
 * Edits the file under its lock (`<file>.lock`): `edit` gets the current text (fresh, read
 * under the lock) and returns the new one, written atomically when it differs, keeping the
 * file's mode. Returns whether it changed.
 */
export async function editKeyFile(path: string, opts: ReadOwnOptions, edit: (text: string) => string): Promise<boolean> {
  const lock = await acquireLock(`${path}.lock`);
  try {
    const text = readOwnFile(path, opts) ?? '';
    const next = edit(text);
    if (next === text) return false;
    let mode = 0o600;
    try {
      mode = statSync(path).mode & 0o7777;
    } catch {
      // Gone meanwhile: written new, private.
    }
    return writeFileAtomic(path, next, { mode });
  } finally {
    lock.release();
  }
}
