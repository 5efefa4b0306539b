/**
 * One account's authorized_keys content, as monkeysphere-authentication writes it
 * (update_users in the original): for each user ID of the account's authorized_user_ids
 * (in file order), the keys its precomputed bindings grant, each as
 * `[<options> ]<type> <base64> MonkeySphere<date> <user ID>`; then the key lines of the
 * account's raw authorized_keys file (unless RAW_AUTHORIZED_KEYS is `none`). Unlike the
 * original, the raw file is not copied verbatim: only lines sshd would accept as keys
 * pass, so no other content can reach a file written as root.
 * Both files are read as the user would read them (src/files/user-file.ts).
 * Not here: computing validity (compute.ts) or writing files (update-users.ts).
 */
import { readUserFiles, type UserFileResult } from '../files/user-file.js';
import { type AccountCertifier, parseAccountCertifiers } from './account-certifiers.js';
import { parseAuthorizedKeysLine } from '../ssh/authorized-keys.js';
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
  /** AUTHORIZED_CERTIFIERS, with %h and %u, or `none` (the default when absent). */
  authorizedCertifiers?: string;
}

/**
 * What went wrong for an account:
 * - `permissions`: a file was refused (ownership, modes, not a regular file, too large,
 *   not readable by the user) and counts as empty, so it grants nothing;
 * - `syntax`: a line was skipped;
 * - `unreadable`: reading failed for reasons of our own (out of descriptors, I/O error),
 *   so the result is incomplete and callers keep the account's previous authorized_keys.
 */
export interface UserProblem {
  kind: 'permissions' | 'syntax' | 'unreadable';
  path: string;
  line?: number;
  message: string;
}

export interface UserKeys {
  /** The authorized_keys text (each line ending in a newline). */
  content: string;
  /** Monkeysphere lines written, and user IDs listed. */
  keyLines: number;
  userIds: number;
  rawIncluded: boolean;
  problems: UserProblem[];
  /** True when some problem means the content is not the whole answer (keep the old file). */
  incomplete: boolean;
}

/** A user file's text, or undefined when absent, empty or refused (with the problem recorded). */
function textOf(r: UserFileResult, path: string, problems: UserProblem[]): string | undefined {
  switch (r.status) {
    case 'absent':
      return undefined;
    case 'refused':
      problems.push({ kind: 'permissions', path, message: `${r.reason}; not using '${path}'` });
      return undefined;
    case 'failed':
      problems.push({ kind: 'unreadable', path, message: r.reason });
      return undefined;
    default:
      return r.bytes.length === 0 ? undefined : r.bytes.toString('utf8');
  }
}

/** The lines of a raw authorized_keys file that sshd would accept as keys, each with a newline. */
function rawKeyLines(text: string, path: string, problems: UserProblem[]): string {
  let out = '';
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const parsed = parseAuthorizedKeysLine(line);
    if (typeof parsed === 'string' || line.includes('\ufffd')) {
      problems.push({ kind: 'syntax', path, line: i + 1, message: `${path}:${i + 1}: ${typeof parsed === 'string' ? parsed : 'not valid UTF-8'}; line left out` });
      return;
    }
    out += `${line}\n`;
  });
  return out;
}

/** What an account's files say, read once: the user IDs it authorizes (with options) and its raw key lines. */
export interface UserKeySources {
  entries: Array<{ userId: string; options: string }>;
  /** The raw authorized_keys key lines (each with a newline), when that file is used and readable. */
  raw: string | undefined;
  /** The account's own identity certifiers (src/auth/account-certifiers.ts). */
  certifiers: AccountCertifier[];
  problems: UserProblem[];
}

/**
 * Reads an account's authorized_user_ids (and raw authorized_keys, unless `none`) as the
 * user, synchronously: nothing else may touch the file system while we hold the user's
 * identity, so callers read every account's files before any asynchronous work.
 */
export function readUserKeySources(account: Account, settings: UserKeysSettings): UserKeySources {
  const problems: UserProblem[] = [];
  const uidsPath = translateSshVariables(settings.authorizedUserIds, account);
  const rawPath = settings.rawAuthorizedKeys === 'none' ? undefined : translateSshVariables(settings.rawAuthorizedKeys, account);
  const certifiersSetting = settings.authorizedCertifiers ?? 'none';
  const certifiersPath = certifiersSetting === 'none' ? undefined : translateSshVariables(certifiersSetting, account);
  const paths = [uidsPath, rawPath, certifiersPath].filter((p): p is string => p !== undefined);
  const files = readUserFiles(paths, account, { maxBytes: MAX_USER_FILE, strictModes: settings.strictModes });
  const uidsFile = files[0];
  const rawFile = rawPath === undefined ? undefined : files[1];
  const certifiersFile = certifiersPath === undefined ? undefined : files[paths.length - 1];
  const uidsText = textOf(uidsFile, uidsPath, problems);
  const entries: UserKeySources['entries'] = [];
  if (uidsText !== undefined) {
    const parsed = parseAuthorizedUserIds(uidsText);
    for (const p of parsed.problems) problems.push({ kind: 'syntax', path: uidsPath, line: p.line, message: `${uidsPath}:${p.line}: ${p.message}` });
    entries.push(...parsed.entries);
  }
  let raw: string | undefined;
  if (rawPath !== undefined && rawFile !== undefined) {
    const text = textOf(rawFile, rawPath, problems);
    if (text !== undefined) raw = rawKeyLines(text, rawPath, problems);
  }
  const certifiers: AccountCertifier[] = [];
  if (certifiersPath !== undefined && certifiersFile !== undefined) {
    const text = textOf(certifiersFile, certifiersPath, problems);
    if (text !== undefined) {
      const parsed = parseAccountCertifiers(text);
      for (const p of parsed.problems) problems.push({ kind: 'syntax', path: certifiersPath, line: p.line, message: `${certifiersPath}:${p.line}: ${p.message}; line left out` });
      certifiers.push(...parsed.certifiers);
    }
  }
  return { entries, raw, certifiers, problems };
}

/**
 * Builds an account's authorized_keys from what its files say. `bindings` holds the
 * precomputed bindings of (at least) every listed user ID; `marker` is the run's
 * `MonkeySphere<date>`.
 */
export function buildUserKeys(sources: UserKeySources, bindings: ReadonlyMap<string, BindingRow[]>, marker: string): UserKeys {
  const lines: string[] = [];
  for (const entry of sources.entries) {
    for (const row of bindings.get(entry.userId) ?? []) {
      for (const key of row.keys) lines.push(authorizedKeysLine(key, marker, entry.userId, entry.options));
    }
  }
  const problems = [...sources.problems];
  return {
    content: lines.map((l) => `${l}\n`).join('') + (sources.raw ?? ''),
    keyLines: lines.length,
    userIds: sources.entries.length,
    rawIncluded: sources.raw !== undefined,
    problems,
    incomplete: problems.some((p) => p.kind === 'unreadable'),
  };
}

/** The bindings of every user ID these sources list, each looked up once. */
export async function bindingsOf(sources: Iterable<UserKeySources>, bindingsFor: (uid: string) => Promise<BindingRow[]>): Promise<Map<string, BindingRow[]>> {
  const out = new Map<string, BindingRow[]>();
  for (const s of sources) for (const e of s.entries) if (!out.has(e.userId)) out.set(e.userId, await bindingsFor(e.userId));
  return out;
}
