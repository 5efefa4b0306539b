/**
 * The `authorized_user_ids` file (monkeysphere-authentication(8)): one OpenPGP user ID
 * per line; lines starting with a space or tab are authorized_keys options for the
 * user ID above (trimmed, whitespace collapsed, joined with commas); `#` and empty
 * lines are comments. Unlike the original, options are never glob-expanded, and they
 * must be options sshd accepts: an option line that is not (` ssh-ed25519 AAAA…`, a
 * typo in `command=`) drops its user ID, so a mistake never grants a key or loses a
 * restriction.
 */
import { optionsProblem } from '../ssh/authorized-keys.js';

export interface AuthorizedUserId {
  userId: string;
  /** authorized_keys options, e.g. `no-port-forwarding,command="/bin/false"`; empty for none. */
  options: string;
  line: number;
}

export interface ParseProblem {
  line: number;
  message: string;
}

/** Characters that never belong in a user ID line: NUL and other C0 controls except tab. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
const MAX_USER_ID = 2048;

export function parseAuthorizedUserIds(text: string): { entries: AuthorizedUserId[]; problems: ParseProblem[] } {
  const entries: AuthorizedUserId[] = [];
  const problems: ParseProblem[] = [];
  const lines = text.split('\n');
  let current: AuthorizedUserId | undefined;
  let currentOptions: string[] = [];
  let badOptions = false;
  const flush = () => {
    if (current && !badOptions) entries.push({ ...current, options: currentOptions.join(',') });
    current = undefined;
    currentOptions = [];
    badOptions = false;
  };
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) return;
    const damage = CONTROL.test(line) ? 'control character in line' : line.includes('\ufffd') ? 'not valid UTF-8' : undefined;
    if (damage) {
      problems.push({ line: lineNo, message: damage });
      // A damaged option line drops its user ID; a damaged user ID line takes its options with it.
      if (line.startsWith(' ') || line.startsWith('\t')) badOptions = current !== undefined;
      else flush();
      return;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const option = line.trim().split(/[ \t]+/).join(' ');
      if (!current) {
        problems.push({ line: lineNo, message: 'option line before any user ID (ignored)' });
        return;
      }
      const problem = optionsProblem(option);
      if (problem) {
        problems.push({ line: lineNo, message: `${problem}; user ID on line ${current.line} ignored` });
        badOptions = true;
        return;
      }
      currentOptions.push(option);
      return;
    }
    if (Buffer.byteLength(line) > MAX_USER_ID) {
      problems.push({ line: lineNo, message: `user ID longer than ${MAX_USER_ID} bytes` });
      flush();
      return;
    }
    flush();
    current = { userId: line, options: '', line: lineNo };
  });
  flush();
  return { entries, problems };
}
