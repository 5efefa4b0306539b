/**
 * One account's authorized_keys content, as monkeysphere-authentication writes it
 * (update_users in the original): for each user ID of the account's authorized_user_ids
 * (in file order), the keys its precomputed bindings grant, each as
 * `[<options> ]<type> <base64> MonkeySphere<date> <user ID>`; then the account's raw
 * authorized_keys file verbatim (unless RAW_AUTHORIZED_KEYS is `none`). Both files must
 * pass the StrictModes check (when STRICT_MODES is on), or they are left out.
 * Not here: computing validity (compute.ts) or writing files (update-users.ts).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { checkPerms, describeProblem } from '../files/checkperms.js';
import type { Account } from './accounts.js';
import { authorizedKeysLine } from './authorized-keys.js';
import { parseAuthorizedUserIds } from './authorized-user-ids.js';
import { translateSshVariables } from './config.js';
import type { BindingRow } from './store.js';

/** Larger authorized_user_ids or authorized_keys files are refused (1 MiB). */
export const MAX_USER_FILE = 1024 * 1024;

export interface UserKeysSettings {
  /** AUTHORIZED_USER_IDS, with %h and %u. */
  authorizedUserIds: string;
  /** RAW_AUTHORIZED_KEYS, with %h and %u, or `none`. */
  rawAuthorizedKeys: string;
  strictModes: boolean;
}

/**
 * What went wrong for an account:
 * - `permissions`: a file failed the StrictModes check and was left out (a deliberate refusal);
 * - `syntax`: a line of authorized_user_ids was skipped;
 * - `unreadable`: a file exists but could not be read, so the result is incomplete and
 *   callers must keep the account's previous authorized_keys file.
 */
export interface UserProblem {
  kind: 'permissions' | 'syntax' | 'unreadable';
  path: string;
  line?: number;
  message: string;
}

export interface UserKeys {
  /** The authorized_keys text (each line ending in a newline, the raw file verbatim after them). */
  content: string;
  /** Monkeysphere lines written, and user IDs listed. */
  keyLines: number;
  userIds: number;
  rawIncluded: boolean;
  problems: UserProblem[];
  /** True when some problem means the content is not the whole answer (keep the old file). */
  incomplete: boolean;
}

/** Reads a user-controlled file; undefined when absent. @throws the underlying error when unreadable or too large. */
function readUserFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_USER_FILE) throw new Error(`larger than ${MAX_USER_FILE} bytes`);
    const buf = Buffer.alloc(Math.min(st.size + 1, MAX_USER_FILE + 1));
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > MAX_USER_FILE) throw new Error(`larger than ${MAX_USER_FILE} bytes`);
      if (n === buf.length) break;
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a user file after the StrictModes check. Returns its text, or undefined when
 * it is absent, empty, refused or unreadable (with the problem recorded).
 */
function readChecked(path: string, account: Account, settings: UserKeysSettings, problems: UserProblem[]): string | undefined {
  let text: string | undefined;
  try {
    text = readUserFile(path);
  } catch (err) {
    problems.push({ kind: 'unreadable', path, message: `cannot read '${path}': ${(err as Error).message}` });
    return undefined;
  }
  if (text === undefined || text.length === 0) return undefined;
  if (settings.strictModes) {
    const p = checkPerms(path, account.uid, account.home);
    if (p) {
      problems.push({ kind: 'permissions', path, message: `${describeProblem(p)}; not using '${path}'` });
      return undefined;
    }
  }
  return text;
}

/**
 * Builds an account's authorized_keys. `lookup` gives the precomputed bindings of a
 * user ID; `marker` is the run's `MonkeySphere<date>`.
 */
export function userAuthorizedKeys(account: Account, settings: UserKeysSettings, lookup: (uid: string) => BindingRow[], marker: string): UserKeys {
  const problems: UserProblem[] = [];
  const lines: string[] = [];
  let userIds = 0;
  const uidsPath = translateSshVariables(settings.authorizedUserIds, account);
  const uidsText = readChecked(uidsPath, account, settings, problems);
  if (uidsText !== undefined) {
    const parsed = parseAuthorizedUserIds(uidsText);
    for (const p of parsed.problems) problems.push({ kind: 'syntax', path: uidsPath, line: p.line, message: `${uidsPath}:${p.line}: ${p.message}` });
    userIds = parsed.entries.length;
    for (const entry of parsed.entries) {
      for (const row of lookup(entry.userId)) {
        for (const key of row.keys) lines.push(authorizedKeysLine(key, marker, entry.userId, entry.options));
      }
    }
  }
  let content = lines.map((l) => `${l}\n`).join('');
  let rawIncluded = false;
  if (settings.rawAuthorizedKeys !== 'none') {
    const rawPath = translateSshVariables(settings.rawAuthorizedKeys, account);
    const raw = readChecked(rawPath, account, settings, problems);
    if (raw !== undefined) {
      content += raw;
      rawIncluded = true;
    }
  }
  return { content, keyLines: lines.length, userIds, rawIncluded, problems, incomplete: problems.some((p) => p.kind === 'unreadable') };
}
