/**
 * Finding stored certificates for a search, as every API here asks: by key ID or fingerprint
 * (primary or subkey, resolved to the primary; `store.certs.byKeyId`), by exact user ID, by
 * e-mail address, and by words. Results are de-duplicated and capped; exact matches first.
 */
import type { StoredCert, Store } from '../store/types.js';
import { badQuery } from './errors.js';
import { addressOf } from '../openpgp/user-id.js';

/** What a search names. */
export type Search =
  | { kind: 'fingerprint'; hex: string }
  | { kind: 'keyid'; hex: string }
  | { kind: 'short'; hex: string }
  | { kind: 'text'; text: string };

/** Longest search accepted, in characters. */
export const MAX_SEARCH = 1024;

/**
 * Parses an HKP v1 `search`: `0x` and 8, 16, 40 or 64 hex digits is a key; 16, 40 or 64 hex
 * digits without `0x` too (SKS would search them as text and find nothing); anything else is text.
 * @throws UsageError (MS_HKP_BAD_QUERY) for an empty or overlong search, or `0x` with another number of digits.
 */
export function parseSearch(raw: string): Search {
  const s = raw.trim();
  if (s === '') throw badQuery('empty search');
  if (s.length > MAX_SEARCH) throw badQuery(`search longer than ${MAX_SEARCH} characters`);
  const m = /^(0x)?([0-9a-fA-F]+)$/.exec(s);
  if (m) {
    const hex = m[2].toUpperCase();
    const n = hex.length;
    if (n === 40 || n === 64) return { kind: 'fingerprint', hex };
    if (n === 16) return { kind: 'keyid', hex };
    if (n === 8 && m[1]) return { kind: 'short', hex };
    if (m[1]) throw badQuery(`0x${hex}: a key ID has 8 or 16 hex digits, a fingerprint 40 or 64`);
  }
  return { kind: 'text', text: s };
}

const keyVersion = (fpr: string) => (fpr.length === 64 ? 6 : 4);

function unique(lists: StoredCert[][], limit: number): StoredCert[] {
  const seen = new Set<string>();
  const out: StoredCert[] = [];
  for (const list of lists) {
    for (const c of list) {
      if (out.length >= limit) return out;
      if (!seen.has(c.fpr)) {
        seen.add(c.fpr);
        out.push(c);
      }
    }
  }
  return out;
}

/**
 * Certificates by key: a fingerprint names exactly that primary key or subkey; a key ID or
 * short key ID any key with it. With `v4Only` (HKP v1 and the v2 by-keyid lookup, which the
 * draft keeps from newer keys), only a full fingerprint finds a v6 certificate.
 */
export async function findByKey(store: Store, search: Exclude<Search, { kind: 'text' }>, opts: { v4Only: boolean; limit: number }): Promise<StoredCert[]> {
  if (search.kind === 'fingerprint') return (await store.certs.byFingerprint(search.hex)).slice(0, opts.limit);
  const found = await store.certs.byKeyId(search.hex);
  return (opts.v4Only ? found.filter((c) => keyVersion(c.fpr) === 4) : found).slice(0, opts.limit);
}

/** Certificates carrying exactly this user ID, or (for an address) a user ID with exactly this address, case-insensitive, in fingerprint order. */
export async function findByIdentity(store: Store, identity: string, limit: number): Promise<StoredCert[]> {
  // A user ID that is exactly this address has this address: the address index finds it too.
  if (addressOf(identity) === identity) return store.certs.byAddress(identity, limit);
  return unique([await store.certs.byExactUserId(identity)], limit);
}

/**
 * A text search: exact user ID matches first (GnuPG 2.2 sends `=ssh://host` searches without
 * `exact=on`, so an exact match must come first), then user IDs containing every word of the
 * text, case-insensitive. With `exact`, only whole user IDs and whole addresses match. A bare
 * address (what `gpg --search-keys alice@example.org` sends) is always matched as a whole
 * address, as SKS's word search and Hagrid's by-email do: `malice@example.org` is another
 * person, and the address index answers without a scan.
 * @throws UsageError (MS_HKP_BAD_QUERY) when no word has 3 characters (a scan of every user ID).
 */
export async function findByText(store: Store, text: string, opts: { exact: boolean; limit: number }): Promise<StoredCert[]> {
  if (opts.exact || addressOf(text) === text) return findByIdentity(store, text, opts.limit);
  const exact = await store.certs.byExactUserId(text);
  const words = text.toLowerCase().split(/\s+/).filter((w) => w !== '');
  const length = (w: string) => Array.from(w).length;
  let longest = '';
  for (const w of words) if (length(w) > length(longest)) longest = w;
  if (length(longest) < 3) {
    if (exact.length > 0) return unique([exact], opts.limit);
    throw badQuery('search text needs a word of at least 3 characters');
  }
  if (words.length === 1) return unique([exact, await store.search.searchUserIds(text, opts.limit)], opts.limit);
  const candidates = await store.search.searchUserIds(longest, opts.limit * 8);
  const all = candidates.filter((c) => c.cert.users.some((u) => u.kind === 'userid' && words.every((w) => u.text.toLowerCase().includes(w))));
  return unique([exact, all], opts.limit);
}
