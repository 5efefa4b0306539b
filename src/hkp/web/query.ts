/**
 * The search box: what a query is, decided by its shape (a fingerprint, a key ID, an e-mail
 * address, an exact user ID such as `ssh://host`, or words), and which store lookup answers
 * it. Results are capped; the caller is told when there were more.
 */
import type { StoredCert, Store } from '../../store/types.js';

/** A query, parsed. */
export type Query =
  | { kind: 'empty' }
  /** 40 or 64 hex digits (spaces, `0x` allowed): a primary or subkey fingerprint. */
  | { kind: 'fingerprint'; hex: string }
  /** 8 or 16 hex digits, or `0x` and 8 to 64: a key ID or a fingerprint's tail. */
  | { kind: 'keyid'; hex: string }
  /** An e-mail address (optionally in angle brackets): user IDs with exactly that address. */
  | { kind: 'email'; address: string }
  /** `=text`, or a URI such as `ssh://host.example.org`: user IDs that are exactly this. */
  | { kind: 'exact'; text: string }
  /** Anything else: user IDs containing the text, ignoring case. */
  | { kind: 'text'; text: string }
  | { kind: 'invalid'; text: string; reason: string };

/** The longest query taken; user IDs longer than this are found by their parts. */
export const MAX_QUERY_LENGTH = 256;
/** The shortest word search: shorter ones match most of the store. */
export const MIN_TEXT_LENGTH = 3;

const HEX = /^[0-9A-Fa-f]+$/;
const EMAIL = /^<?([^\s<>@"]+@[^\s<>@"]+\.[^\s<>@".]+)>?$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/\S+$/;

/** Decides what a query asks for, by its shape. */
export function parseQuery(input: string): Query {
  const text = input.trim();
  if (text === '') return { kind: 'empty' };
  if ([...text].length > MAX_QUERY_LENGTH) return { kind: 'invalid', text, reason: `the query is longer than ${MAX_QUERY_LENGTH} characters` };
  if (text.startsWith('=')) {
    const exact = text.slice(1).trim();
    return exact === '' ? { kind: 'empty' } : { kind: 'exact', text: exact };
  }
  const prefixed = /^0x/i.test(text);
  const bare = prefixed ? text.slice(2) : text;
  const compact = bare.replace(/\s+/g, '');
  if (HEX.test(compact)) {
    // A fingerprint may be typed in groups of four; a key ID is typed whole.
    if (compact.length === 40 || compact.length === 64) return { kind: 'fingerprint', hex: compact.toUpperCase() };
    if (compact === bare && (compact.length === 8 || compact.length === 16 || (prefixed && compact.length >= 8 && compact.length <= 64))) {
      return { kind: 'keyid', hex: compact.toUpperCase() };
    }
    if (prefixed) return { kind: 'invalid', text, reason: `${compact.length} hex digits name no key: give 8 or 16 (a key ID), or 40 or 64 (a fingerprint)` };
  }
  const email = EMAIL.exec(text);
  if (email) return { kind: 'email', address: email[1] };
  if (URI.test(text)) return { kind: 'exact', text };
  if ([...text].length < MIN_TEXT_LENGTH) return { kind: 'invalid', text, reason: `search for at least ${MIN_TEXT_LENGTH} characters` };
  return { kind: 'text', text };
}

/** Words describing what a query searches, for the results heading. */
export function describeQuery(q: Query): string {
  switch (q.kind) {
    case 'fingerprint':
      return 'fingerprint';
    case 'keyid':
      return 'key ID';
    case 'email':
      return 'e-mail address';
    case 'exact':
      return 'exact user ID';
    case 'text':
      return 'user IDs containing';
    default:
      return 'query';
  }
}

/** Certificates that answer a query, capped. */
export interface QueryResult {
  certs: StoredCert[];
  /** True when more certificates matched than are returned. */
  more: boolean;
}

/** User ID texts of a stored certificate, from the packets (the store keeps only bound ones). */
function userIdTexts(sc: StoredCert): string[] {
  return sc.cert.users.filter((u) => u.kind === 'userid').map((u) => u.text);
}

/**
 * Runs a query against the store; at most `limit` certificates, in fingerprint order.
 * Key lookups resolve subkeys to their primary (the store's byKeyId does).
 */
export async function runQuery(store: Store, q: Query, limit: number): Promise<QueryResult> {
  const capped = (certs: StoredCert[]): QueryResult => ({ certs: certs.slice(0, limit), more: certs.length > limit });
  switch (q.kind) {
    case 'fingerprint':
    case 'keyid':
      return capped(await store.certs.byKeyId(q.hex));
    case 'email':
      return capped(await store.certs.byAddress(q.address, limit + 1));
    case 'exact': {
      const found = await store.certs.byExactUserId(q.text);
      if (found.length > 0) return capped(found);
      // `ssh://Host.Example.org` still finds `ssh://host.example.org`: exact but for case.
      const want = q.text.toLowerCase();
      const loose = await store.search.searchUserIds(q.text, limit * 4 + 1);
      return capped(loose.filter((sc) => userIdTexts(sc).some((t) => t.toLowerCase() === want)));
    }
    case 'text':
      return capped(await store.search.searchUserIds(q.text, limit + 1));
    default:
      return { certs: [], more: false };
  }
}
