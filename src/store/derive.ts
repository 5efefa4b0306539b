/**
 * Everything a store indexes for a certificate, derived from it in one pure function, so the
 * SQLite and PostgreSQL back ends index the same rows: key rows (primary and subkeys, v4 and
 * v6), user IDs (exact bytes and folded text for search), who certified it (the certification
 * index) and its SKS digest.
 * Not here: storage, and any judgement of validity (nothing here is verified).
 */
import { InputError } from '../errors.js';
import type { Cert } from '../openpgp/cert.js';
import { asFingerprint, type Fingerprint, type KeyId, keyIdOf, shortIdOf } from '../openpgp/fingerprint.js';
import { Tag } from '../openpgp/packets.js';
import { SigType } from '../openpgp/signature.js';
import { sksDigest } from '../openpgp/sks-digest.js';
import { addressOf, foldAddress } from '../openpgp/user-id.js';

/** A primary key or subkey of a certificate, with every form `CertStore.byKeyId` matches. */
export interface KeyRow {
  fpr: Fingerprint;
  /** The key ID for the key's version (v4: low 64 bits of the fingerprint, v6: high 64). */
  keyId: KeyId;
  /** The short key ID: the low 32 bits of the key ID. */
  shortId: string;
  /** The fingerprint reversed, so a fingerprint suffix is a prefix of it (an index range scan). */
  rfpr: string;
  primary: boolean;
}

/** One issuer of certifications on a certificate. */
export interface IssuerRow {
  issuer: KeyId;
  /** Whether any of its certifications is a trust signature (level > 0). */
  trust: boolean;
}

/** What a store indexes for one certificate. */
export interface Derived {
  fpr: Fingerprint;
  /** Primary first, then subkeys in certificate order; each fingerprint once. */
  keys: KeyRow[];
  /** The bodies of the user ID packets (not attributes), each once, in certificate order. */
  userIds: Buffer[];
  /** The user IDs' text folded for search (`toLowerCase()`), each once, in certificate order. */
  folded: string[];
  /** The user IDs' addresses (`addressOf`), folded (`foldAddress`), each once, in certificate order. */
  addresses: string[];
  /** Who certified its user IDs (`certificationIssuers`), ordered by issuer. */
  issuers: IssuerRow[];
  /** The SKS digest (`sksDigest`). */
  digest: Buffer;
}

export function reverse(s: string): string {
  let out = '';
  for (let i = s.length - 1; i >= 0; i--) out += s[i];
  return out;
}

/**
 * The text of a user ID search, checked as `UserIdSearch.searchUserIds` requires: not empty,
 * and no NUL (which no stored user ID text is searched for, and which SQLite's full-text
 * query syntax and PostgreSQL's text type both refuse).
 * @throws InputError (MS_STORE_SEARCH)
 */
export function checkSearchText(text: string): void {
  if (text === '') throw new InputError('MS_STORE_SEARCH', 'cannot search user IDs for empty text', { hints: ['give some text to search for'] });
  if (text.includes('\0')) throw new InputError('MS_STORE_SEARCH', 'cannot search user IDs for text with a NUL character');
}

/** Folds text for user ID search: `toLowerCase()`, the one definition both back ends use. */
export function foldText(text: string): string {
  return text.toLowerCase();
}

/**
 * Issuer key IDs of a signature: from its issuer fingerprint subpackets when it has any
 * (right for v6 issuers), else from its issuer key ID subpackets.
 */
export function issuerIdsOf(fingerprints: readonly string[], keyIds: readonly string[]): KeyId[] {
  const out = new Set<KeyId>();
  if (fingerprints.length > 0) for (const f of fingerprints) out.add(keyIdOf(f));
  else for (const k of keyIds) out.add(k.toUpperCase() as KeyId);
  return [...out];
}

/**
 * Key IDs that signed the certificate's user IDs and attributes (certifications and their
 * revocations), other than its own primary key, each with whether any of its signatures is a
 * trust signature: a certification (0x10–0x13) with a trust level above 0. Unverified.
 */
export function certificationIssuers(cert: Cert): Map<KeyId, boolean> {
  const out = new Map<KeyId, boolean>();
  const self = keyIdOf(cert.primary.fpr);
  for (const u of cert.users) {
    for (const s of u.signatures) {
      const sig = s.sig;
      if (!sig) continue;
      const trust = sig.type >= SigType.GenericCert && sig.type <= SigType.PositiveCert && (sig.trust?.level ?? 0) > 0;
      for (const issuer of issuerIdsOf(sig.issuerFingerprints, sig.issuerKeyIds)) {
        if (issuer === self) continue;
        out.set(issuer, (out.get(issuer) ?? false) || trust);
      }
    }
  }
  return out;
}

function keyRow(fprText: string, primary: boolean): KeyRow {
  const fpr = asFingerprint(fprText);
  return { fpr, keyId: keyIdOf(fpr), shortId: shortIdOf(fpr), rfpr: reverse(fpr), primary };
}

/** Everything a store indexes for `cert` (as stored: canonical, public packets only). */
export function deriveIndexes(cert: Cert): Derived {
  const keys: KeyRow[] = [keyRow(cert.primary.fpr, true)];
  const seenKeys = new Set<string>([keys[0].fpr]);
  for (const s of cert.subkeys) {
    const row = keyRow(s.key.fpr, false);
    if (seenKeys.has(row.fpr)) continue;
    seenKeys.add(row.fpr);
    keys.push(row);
  }
  const userIds: Buffer[] = [];
  const folded: string[] = [];
  const seenUids = new Set<string>();
  const seenFolded = new Set<string>();
  const addresses = new Set<string>();
  for (const u of cert.users) {
    if (u.packet.tag !== Tag.UserId) continue;
    const hexBody = u.packet.body.toString('hex');
    if (!seenUids.has(hexBody)) {
      seenUids.add(hexBody);
      userIds.push(u.packet.body);
    }
    const f = foldText(u.text);
    if (!seenFolded.has(f)) {
      seenFolded.add(f);
      folded.push(f);
    }
    const address = addressOf(u.text);
    if (address !== undefined) addresses.add(foldAddress(address));
  }
  const issuers = [...certificationIssuers(cert)]
    .map(([issuer, trust]) => ({ issuer, trust }))
    .sort((a, b) => (a.issuer < b.issuer ? -1 : a.issuer > b.issuer ? 1 : 0));
  return { fpr: keys[0].fpr, keys, userIds, folded, addresses: [...addresses], issuers, digest: sksDigest(cert) };
}
