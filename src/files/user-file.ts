/**
 * Reading a file a user controls (authorized_user_ids, ~/.ssh/authorized_keys) from a
 * process that may run as root, with sshd's guarantees:
 *
 * - opened with the user's own privileges (src/files/as-user.ts), so a symlink to a file
 *   the user cannot read is refused by the kernel;
 * - opened non-blocking and without following into terminals, then judged by what was
 *   opened (`fstat` of the descriptor, its path from /proc), never by the name: a FIFO,
 *   a device, a directory or a file over the size limit is refused without blocking, and
 *   swapping a symlink after the check changes nothing;
 * - StrictModes (sshd's secure_filename) on the opened file and every directory above it
 *   up to the user's home.
 *
 * The result says whose fault a failure is: `refused` (the file is not acceptable: the
 * caller must act as if it said nothing, so it cannot freeze access that was revoked) or
 * `failed` (our own trouble, such as running out of descriptors: the caller may keep its
 * previous answer).
 */
import { closeSync, constants, fstatSync, openSync, readlinkSync, readSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage } from '../errors.js';
import { asUser, type UserIdentity } from './as-user.js';

export interface FileOwner extends UserIdentity {
  home: string;
}

export interface ReadUserFileOptions {
  /** Larger files are refused. */
  maxBytes: number;
  /** sshd's StrictModes: owner and writability of the file and its directories. */
  strictModes: boolean;
}

export type UserFileResult =
  | { status: 'absent' }
  | { status: 'read'; bytes: Buffer }
  | { status: 'refused'; reason: string }
  | { status: 'failed'; reason: string };

/** Errors that are the system's trouble, not the file's: worth keeping a previous answer for. */
const OUR_TROUBLE = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EIO', 'EINTR', 'EAGAIN', 'ENOBUFS']);

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

function classify(err: unknown, path: string): UserFileResult {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'absent' };
  const reason = `cannot read '${path}': ${describeErrno(code, err)}`;
  return OUR_TROUBLE.has(code) ? { status: 'failed', reason } : { status: 'refused', reason };
}

function describeErrno(code: string, err: unknown): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return code ? `${code.toLowerCase()} (${errorMessage(err)})` : errorMessage(err);
  }
}

/**
 * Reads several files of one owner, opening them all under one identity switch (each
 * switch is a few set*id calls that glibc signals to every thread: about a millisecond).
 */
export function readUserFiles(paths: readonly string[], owner: FileOwner, opts: ReadUserFileOptions): UserFileResult[] {
  const opened = asUser(owner, () =>
    paths.map((path): number | UserFileResult => {
      try {
        return openSync(path, OPEN_FLAGS);
      } catch (err) {
        return classify(err, path);
      }
    }),
  );
  return opened.value.map((fd, i) => (typeof fd === 'number' ? judge(fd, paths[i], owner, opts, opened.switched) : fd));
}

/**
 * A file the caller reads as itself (a configuration file, say): regular files only, opened
 * without blocking (a FIFO is refused, not waited on), at most `maxBytes`.
 */
export function readRegularFile(path: string, maxBytes: number): UserFileResult {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    return classify(err, path);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { status: 'refused', reason: `'${path}' is not a regular file` };
    if (st.size > maxBytes) return { status: 'refused', reason: `'${path}' is larger than ${maxBytes} bytes` };
    return readBounded(fd, path, st.size, maxBytes);
  } catch (err) {
    return classify(err, path);
  } finally {
    closeSync(fd);
  }
}

/** Decides on what was opened (and closes it). */
function judge(fd: number, path: string, owner: FileOwner, opts: ReadUserFileOptions, switched: boolean): UserFileResult {
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { status: 'refused', reason: `'${path}' is not a regular file` };
    if (st.size > opts.maxBytes) return { status: 'refused', reason: `'${path}' is larger than ${opts.maxBytes} bytes` };
    // Without the user's identity the kernel did not check access for them: accept only
    // their own files or root's, so a file of the account we run as cannot be handed over.
    if (st.uid !== owner.uid && st.uid !== 0 && (opts.strictModes || !switched)) {
      return { status: 'refused', reason: `improper ownership on '${path}'` };
    }
    if (opts.strictModes) {
      const problem = insecureMode(st.mode, path) ?? insecureDirectories(openedPath(fd, path), owner);
      if (problem) return { status: 'refused', reason: problem };
    }
    return readBounded(fd, path, st.size, opts.maxBytes);
  } catch (err) {
    return classify(err, path);
  } finally {
    closeSync(fd);
  }
}

/** Reads to the end, sized for what fstat said, refusing the file once it passes maxBytes (it may grow). */
function readBounded(fd: number, path: string, size: number, maxBytes: number): UserFileResult {
  const chunks: Buffer[] = [];
  let total = 0;
  let buf = Buffer.allocUnsafe(Math.min(size, maxBytes) + 1);
  for (;;) {
    const r = readSync(fd, buf, 0, buf.length, null);
    if (r === 0) break;
    chunks.push(buf.subarray(0, r));
    total += r;
    if (total > maxBytes) return { status: 'refused', reason: `'${path}' is larger than ${maxBytes} bytes` };
    buf = r === buf.length ? Buffer.allocUnsafe(Math.min(64 * 1024, maxBytes + 1 - total)) : buf.subarray(r);
  }
  return { status: 'read', bytes: Buffer.concat(chunks, total) };
}

/** Where the descriptor really points (symlinks resolved at open time), from /proc. */
function openedPath(fd: number, fallback: string): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return realpathSync(fallback);
  }
}

function insecureMode(mode: number, path: string): string | undefined {
  if (mode & 0o020) return `improper group writability on '${path}'`;
  if (mode & 0o002) return `improper other writability on '${path}'`;
  return undefined;
}

/** sshd's secure_filename for the directories above `real`, up to the user's home or /. */
function insecureDirectories(real: string, owner: FileOwner): string | undefined {
  let home = owner.home;
  try {
    home = realpathSync(owner.home);
  } catch {
    // No home: check all the way up to /.
  }
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    const st = statSync(dir);
    if (st.uid !== owner.uid && st.uid !== 0) return `improper ownership on '${dir}'`;
    const problem = insecureMode(st.mode, dir);
    if (problem) return problem;
    if (dir === home || dirname(dir) === dir) return undefined;
  }
}
