/**
 * The keys an authorized_keys text grants, and what changed between two of them: what
 * update-users logs and the login path matches the offered key against. Kept apart from
 * authorized-keys.ts so that the login path loads the SSH parser only when it needs it.
 */
import { parseAuthorizedKeysLine } from '../ssh/authorized-keys.js';

/** A key an authorized_keys file grants: `type base64`, and the user ID when Monkeysphere wrote the line. */
export interface GrantedKey {
  key: string;
  userId?: string;
}

const MARKER = /^MonkeySphere\S* (.*)$/;

/** The keys an authorized_keys text grants, once each (lines sshd would not accept are skipped). */
export function grantedKeysOf(text: string): GrantedKey[] {
  const out = new Map<string, GrantedKey>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const parsed = parseAuthorizedKeysLine(line);
    if (typeof parsed === 'string') continue;
    const key = `${parsed.type} ${parsed.blob.toString('base64')}`;
    if (!out.has(key)) out.set(key, { key, userId: MARKER.exec(parsed.comment)?.[1] });
  }
  return [...out.values()];
}

/** What changed between two authorized_keys texts, by key (a new date stamp alone is no change). */
export function keyChanges(before: string, after: string): { added: GrantedKey[]; removed: GrantedKey[] } {
  const old = grantedKeysOf(before);
  const now = grantedKeysOf(after);
  const had = new Set(old.map((k) => k.key));
  const has = new Set(now.map((k) => k.key));
  return { added: now.filter((k) => !had.has(k.key)), removed: old.filter((k) => !has.has(k.key)) };
}
