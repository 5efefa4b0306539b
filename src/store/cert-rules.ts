/**
 * What a `CertStore` decides, the same on every back end: what bytes a put or a replace
 * stores (canonical, public packets, the unchanged fast path), what it refuses, how a typed
 * key ID becomes index ranges, and the `StoredCert` that parses its bytes only when asked.
 * The back ends (sqlite/, postgres/) only move rows.
 */
import { EnvironmentError, InputError } from '../errors.js';
import { type Cert, publicPackets, readCerts } from '../openpgp/cert.js';
import { asFingerprint, type Fingerprint, parseHexTail } from '../openpgp/fingerprint.js';
import { canonicalCert, isCanonical, mergeCerts } from '../openpgp/merge.js';
import { reverse } from './derive.js';
import type { StoredCert } from './types.js';

/** Parses stored bytes back into the certificate they hold. */
export function parseStored(fpr: string, data: Buffer): Cert {
  const { certs } = readCerts(data);
  if (certs.length !== 1 || certs[0].primary.fpr !== fpr) {
    throw new EnvironmentError('MS_STORE_CORRUPT', `stored certificate ${fpr} does not parse back`, { data: { fingerprint: fpr } });
  }
  return certs[0];
}

/** A stored certificate; `cert` is parsed on first access and kept. */
export class LazyStoredCert implements StoredCert {
  readonly fpr: Fingerprint;
  #cert: Cert | undefined;

  constructor(
    fpr: string,
    readonly bytes: Buffer,
    readonly created: number,
    readonly updated: number,
    readonly digest: Buffer,
    readonly serial: number,
  ) {
    this.fpr = asFingerprint(fpr);
  }

  get cert(): Cert {
    this.#cert ??= parseStored(this.fpr, this.bytes);
    return this.#cert;
  }
}

/** @throws InputError (MS_STORE_SECRET): a store of public certificates. */
export function refuseSecret(cert: Cert): void {
  if (cert.secret) {
    throw new InputError('MS_STORE_SECRET', `refusing to store secret key ${cert.primary.fpr}`, {
      hints: ['store the public certificate (gpg --export), not the secret key'],
      data: { fingerprint: cert.primary.fpr },
    });
  }
}

/** @throws InputError (MS_STORE_MISMATCH) when `cert` is not of primary key `target`; MS_STORE_SECRET for a secret key. */
export function checkReplacement(target: Fingerprint, cert: Cert): void {
  if (cert.primary.fpr !== target) {
    throw new InputError('MS_STORE_MISMATCH', `cannot replace certificate ${target} with ${cert.primary.fpr}: another primary key`, {
      data: { fingerprint: target, given: cert.primary.fpr },
    });
  }
  refuseSecret(cert);
}

/** What is stored for a certificate: its public packets as they came, trust and marker packets left out. */
export function storedBytes(cert: Cert): Buffer {
  return Buffer.concat(publicPackets(cert).map((p) => p.raw));
}

const packetKey = (tag: number, body: Buffer) => `${tag}:${body.toString('base64')}`;

/**
 * What `put` stores for `cert` when `stored` holds: the new bytes, or `unchanged` (with the
 * stored certificate) when the merge adds nothing. New certificates are stored canonical (one
 * packet per user ID and subkey), so a signature merged in later lands on the one copy every
 * reader evaluates; stored bytes with duplicates (from before canonical storage) are rewritten.
 */
export function bytesToPut(cert: Cert, stored: Buffer | undefined): { bytes: Buffer } | { unchanged: Cert } {
  if (!stored) return { bytes: storedBytes(canonicalCert(cert)) };
  const old = parseStored(cert.primary.fpr, stored);
  const have = new Set(publicPackets(old).map((p) => packetKey(p.tag, p.body)));
  if (isCanonical(old) && publicPackets(cert).every((p) => have.has(packetKey(p.tag, p.body)))) return { unchanged: old };
  const bytes = storedBytes(mergeCerts(old, cert));
  return bytes.equals(stored) ? { unchanged: old } : { bytes };
}

/**
 * The index ranges `byKeyId` looks in, over reversed hex (a suffix is then a prefix, and a
 * prefix's range ends at the prefix then 'G', which sorts after every hex digit): the key ID
 * column for 16 and 8 digits (key IDs and short key IDs, v6 ones included), the fingerprint
 * column for any length (suffixes). Other lengths get an empty key ID range.
 * @throws InputError (MS_STORE_KEYID) when `id` is not 8 to 64 hex digits.
 */
export function keyIdRanges(id: string): { keyId: [string, string]; fpr: [string, string] } {
  const hexId = parseHexTail(id);
  if (hexId === undefined) {
    throw new InputError('MS_STORE_KEYID', `not a key ID or fingerprint: ${JSON.stringify(id)}`, {
      hints: ['give 8, 16, 40 or 64 hexadecimal digits'],
      data: { id },
    });
  }
  const prefix = reverse(hexId);
  const keyIdPrefix = hexId.length === 16 || hexId.length === 8 ? prefix : 'G';
  return { keyId: [keyIdPrefix, `${keyIdPrefix}G`], fpr: [prefix, `${prefix}G`] };
}

/**
 * A whole fingerprint, reversed as the key index stores it (`CertStore.byFingerprint`).
 * @throws InputError (MS_STORE_KEYID) when `fpr` is not 40 or 64 hex digits.
 */
export function reversedFingerprint(fpr: string): string {
  const hex = parseHexTail(fpr);
  if (hex === undefined || (hex.length !== 40 && hex.length !== 64)) {
    throw new InputError('MS_STORE_KEYID', `not a fingerprint: ${JSON.stringify(fpr)}`, { hints: ['give 40 or 64 hexadecimal digits'], data: { fpr } });
  }
  return reverse(hex);
}

/** (key ID, fingerprint) pairs without duplicates, ordered by key ID then fingerprint (`CertStore.primariesByKeyId`). */
export function sortKeyIdPairs<T extends { keyId: string; fpr: string }>(pairs: T[]): T[] {
  const seen = new Set<string>();
  const out = pairs.filter((p) => {
    const k = `${p.keyId}:${p.fpr}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return out.sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : a.fpr < b.fpr ? -1 : a.fpr > b.fpr ? 1 : 0));
}
