/**
 * Shared helpers for the certificate-layer tests: the gpg-made fixture set in
 * test/fixtures/certs/ (see its README.md), packet-set views of certificates for
 * order-insensitive comparison, and a small seeded PRNG. Not a test file itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Cert, readCerts, type SigEntry } from '../../src/openpgp/cert.js';
import type { KeyPacket } from '../../src/openpgp/key-packet.js';
import type { Packet } from '../../src/openpgp/packets.js';
import type { SigTarget } from '../../src/openpgp/signed-data.js';
import type { Signature } from '../../src/openpgp/signature.js';

export const CERTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'certs');
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-keyring.gpg';

export interface FixtureEntry {
  fpr: string;
  file: string;
  uids: string[];
}

/** index.json: fixture name → fingerprint, file and user IDs. */
export const INDEX: Readonly<Record<string, FixtureEntry>> = JSON.parse(readFileSync(join(CERTS_DIR, 'index.json'), 'utf8'));

/** Every certificate fixture name, in all.pgp order. */
export const NAMES: readonly string[] = Object.keys(INDEX);

export function fixtureBytes(name: string): Buffer {
  return readFileSync(join(CERTS_DIR, `${name}.pgp`));
}

/** Reads a one-certificate fixture and insists it parsed cleanly. */
export function fixtureCert(name: string): Cert {
  const { certs, problems } = readCerts(fixtureBytes(name));
  if (problems.length > 0 || certs.length !== 1) {
    throw new Error(`fixture ${name}: ${certs.length} certs, problems: ${problems.map((p) => p.message).join('; ')}`);
  }
  return certs[0];
}

/** Every .pgp file of the fixture set (certificates, all.pgp, secret keys), relative to CERTS_DIR. */
export function allPgpFiles(): string[] {
  const top = readdirSync(CERTS_DIR).filter((f) => f.endsWith('.pgp'));
  const secret = readdirSync(join(CERTS_DIR, 'secret'))
    .filter((f) => f.endsWith('.pgp'))
    .map((f) => `secret/${f}`);
  const merge = readdirSync(join(CERTS_DIR, 'merge'))
    .filter((f) => f.endsWith('.pgp'))
    .map((f) => `merge/${f}`);
  return [...top, ...secret, ...merge].sort();
}

/**
 * A certificate as sets, for comparing with gpg whatever the packet order: the
 * primary key, its direct signatures, and per user ID (by packet body) and per
 * subkey (by fingerprint) the set of signature packet bodies. Bodies, not raw
 * packets, so old- and new-format headers compare equal. Sorted for deepEqual.
 */
export interface CertShape {
  primary: string;
  direct: string[];
  users: Record<string, string[]>;
  subkeys: Record<string, string[]>;
}

const b64 = (p: Packet): string => p.body.toString('base64');
const sigSet = (sigs: SigEntry[]): string[] => [...new Set(sigs.map((s) => b64(s.packet)))].sort();

export function certShape(cert: Cert): CertShape {
  const users: Record<string, string[]> = {};
  for (const u of cert.users) users[`${u.packet.tag}:${b64(u.packet)}`] = sigSet(u.signatures);
  const subkeys: Record<string, string[]> = {};
  for (const s of cert.subkeys) subkeys[s.key.fpr] = sigSet(s.signatures);
  return { primary: b64(cert.primary.packet), direct: sigSet(cert.directSigs), users, subkeys };
}

/** Every signature of a certificate with what it is bound to. */
export interface LocatedSig {
  cert: Cert;
  entry: SigEntry;
  sig: Signature;
  target: SigTarget;
  /** Where it sits, for messages: "direct", "uid <text>", "subkey <fpr>". */
  where: string;
}

export function locatedSigs(cert: Cert): LocatedSig[] {
  const out: LocatedSig[] = [];
  const primary = cert.primary;
  for (const entry of cert.directSigs) {
    if (entry.sig) out.push({ cert, entry, sig: entry.sig, target: { kind: 'key', primary }, where: 'direct' });
  }
  for (const u of cert.users) {
    for (const entry of u.signatures) {
      if (entry.sig) out.push({ cert, entry, sig: entry.sig, target: { kind: 'user', primary, user: u.packet }, where: `uid ${u.text}` });
    }
  }
  for (const s of cert.subkeys) {
    for (const entry of s.signatures) {
      if (entry.sig) out.push({ cert, entry, sig: entry.sig, target: { kind: 'subkey', primary, subkey: s.key }, where: `subkey ${s.key.fpr}` });
    }
  }
  return out;
}

/** Every primary key and subkey of `certs`, by 16-digit key ID and by fingerprint. */
export function keyIndex(certs: Cert[]): Map<string, KeyPacket> {
  const map = new Map<string, KeyPacket>();
  for (const c of certs) {
    for (const k of [c.primary, ...c.subkeys.map((s) => s.key)]) {
      map.set(k.keyId, k);
      map.set(k.fpr, k);
    }
  }
  return map;
}

/** The issuer of `sig` among `keys`, by issuer fingerprint first, then key ID. */
export function findIssuer(sig: Signature, keys: Map<string, KeyPacket>): KeyPacket | undefined {
  for (const f of sig.issuerFingerprints) {
    const k = keys.get(f);
    if (k) return k;
  }
  for (const id of sig.issuerKeyIds) {
    const k = keys.get(id);
    if (k) return k;
  }
  return undefined;
}

/** mulberry32: a small seeded PRNG, so fuzz cases are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export function randInt(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}
