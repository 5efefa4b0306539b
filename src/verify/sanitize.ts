/**
 * What every path that takes certificates from outside does first, before a policy of its own
 * decides what to keep (the authentication service's ingest, src/auth/ingest.ts, and the
 * keyserver's, src/server/ingest.ts):
 * - public packets only (`publicOnly`): a secret key or subkey packet becomes its public part;
 * - no non-exportable (local) signature (`withoutLocal`): one that comes from outside was taken
 *   off the machine that made it (RFC 9580 §5.2.3.19);
 * - every signature that can count checked against the key it names (`checkSignatures`):
 *   self-signatures against the primary key, third-party certifications and certification
 *   revocations against the issuer keys the caller knows, key revocations against designated
 *   revokers at hand; each is good, bad, or unverified (no key to check it with, an
 *   algorithm or hash nothing here verifies, or an unparseable packet);
 * - user IDs, attributes and subkeys without a good (or at least unverifiable) self-signature
 *   are unbound (`unboundComponents`), as gpg's import leaves them out;
 * - the certificate rebuilt from what the policy keeps, packets in their order (`rebuildCert`).
 * Not here: which unverified signatures to keep (a budget) and what counts as a known issuer.
 */
import { HASH_NAMES } from '../openpgp/algorithms.js';
import type { Cert, SigEntry } from '../openpgp/cert.js';
import { readCerts } from '../openpgp/cert.js';
import { keyIdOf } from '../openpgp/fingerprint.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { encodePacket, type Packet, Tag } from '../openpgp/packets.js';
import type { SigTarget } from '../openpgp/signed-data.js';
import { type Signature, SigType } from '../openpgp/signature.js';
import { verificationKey } from '../openpgp/verify.js';
import type { SigCheck, Verifier } from './verifier.js';

// ---------------------------------------------------------------------------------------
// Issuer keys

/** Keys signatures may be checked against, by fingerprint and by key ID. */
export interface IssuerKeys {
  byFpr: Map<string, KeyPacket>;
  byKeyId: Map<string, KeyPacket[]>;
}

export function issuerKeys(keys: Iterable<KeyPacket> = []): IssuerKeys {
  const k: IssuerKeys = { byFpr: new Map(), byKeyId: new Map() };
  for (const key of keys) addIssuerKey(k, key);
  return k;
}

export function addIssuerKey(k: IssuerKeys, key: KeyPacket): void {
  if (k.byFpr.has(key.fpr)) return;
  k.byFpr.set(key.fpr, key);
  const id = keyIdOf(key.fpr);
  k.byKeyId.set(id, [...(k.byKeyId.get(id) ?? []), key]);
}

/** The keys `sig` names as its issuer, among `k`: by fingerprint when it gives one (as cert/evaluate.ts), else by key ID. */
export function issuersIn(k: IssuerKeys, sig: Signature): KeyPacket[] {
  if (sig.issuerFingerprints.length > 0) {
    for (const f of sig.issuerFingerprints) {
      const key = k.byFpr.get(f);
      if (key) return [key];
    }
    return [];
  }
  if (sig.issuerKeyIds.length === 1) return k.byKeyId.get(sig.issuerKeyIds[0]) ?? [];
  const out: KeyPacket[] = [];
  for (const id of sig.issuerKeyIds) for (const key of k.byKeyId.get(id) ?? []) if (!out.includes(key)) out.push(key);
  return out;
}

/** Whether `sig` names `key` as its issuer. */
export function issuedBy(sig: Signature, key: KeyPacket): boolean {
  if (sig.issuerFingerprints.length > 0) return sig.issuerFingerprints.includes(key.fpr);
  return sig.issuerKeyIds.includes(key.keyId);
}

/** The issuer's key ID as an index names it: from its issuer fingerprint when it has one, else its issuer key ID. */
export function issuerKeyId(sig: Signature): string | undefined {
  if (sig.issuerFingerprints.length > 0) return keyIdOf(sig.issuerFingerprints[0]);
  return sig.issuerKeyIds[0];
}

export const isCertification = (t: number) => t >= SigType.GenericCert && t <= SigType.PositiveCert;

// ---------------------------------------------------------------------------------------
// Public packets, local signatures

/** The public certificate of a secret one: each secret key packet replaced by its public part. */
export function publicOnly(cert: Cert): { cert: Cert; converted: number } {
  const secretSubkeys = new Map<Packet, KeyPacket>();
  for (const s of cert.subkeys) if (s.key.packet.tag === Tag.SecretSubkey) secretSubkeys.set(s.key.packet, s.key);
  if (!cert.secret && secretSubkeys.size === 0) return { cert, converted: 0 };
  const raws = cert.packets.map((p) => {
    if (p === cert.primary.packet && p.tag === Tag.SecretKey) return encodePacket(Tag.PublicKey, cert.primary.publicBody);
    const sub = secretSubkeys.get(p);
    return sub ? encodePacket(Tag.PublicSubkey, sub.publicBody) : p.raw;
  });
  const [pub] = readCerts(Buffer.concat(raws)).certs;
  return { cert: pub, converted: secretSubkeys.size + (cert.secret ? 1 : 0) };
}

/**
 * The certificate without its non-exportable signatures, without parsing again; `keep` names
 * those that stay (the authentication service keeps its trust core's own). `dropped` counts
 * those left out.
 */
export function withoutLocal(cert: Cert, keep: (sig: Signature) => boolean = () => false): { cert: Cert; dropped: number } {
  const local = new Set<SigEntry>();
  let dropped = 0;
  for (const list of [cert.directSigs, ...cert.users.map((u) => u.signatures), ...cert.subkeys.map((s) => s.signatures)]) {
    for (const e of list) {
      if (!e.sig || e.sig.exportable || keep(e.sig)) continue;
      local.add(e);
      dropped++;
    }
  }
  if (local.size === 0) return { cert, dropped };
  const packets = new Set<Packet>([...local].map((e) => e.packet));
  const without = (list: SigEntry[]) => list.filter((e) => !local.has(e));
  return {
    cert: {
      ...cert,
      directSigs: without(cert.directSigs),
      users: cert.users.map((u) => ({ ...u, signatures: without(u.signatures) })),
      subkeys: cert.subkeys.map((s) => ({ ...s, signatures: without(s.signatures) })),
      packets: cert.packets.filter((p) => !packets.has(p)),
    },
    dropped,
  };
}

// ---------------------------------------------------------------------------------------
// Checking signatures

/** A part of a certificate signatures are made on: the primary key (direct signatures), a user ID or attribute, a subkey. */
export interface Component {
  packet?: Packet;
  kind: 'key' | 'user' | 'subkey';
  signatures: SigEntry[];
  target: SigTarget;
}

/** The certificate's components: the key (index 0), its user IDs and attributes, then its subkeys. */
export function componentsOf(cert: Cert): Component[] {
  const primary = cert.primary;
  return [
    { kind: 'key', signatures: cert.directSigs, target: { kind: 'key', primary } },
    ...cert.users.map((u): Component => ({ packet: u.packet, kind: 'user', signatures: u.signatures, target: { kind: 'user', primary, user: u.packet } })),
    ...cert.subkeys.map((s): Component => ({ packet: s.key.packet, kind: 'subkey', signatures: s.signatures, target: { kind: 'subkey', primary, subkey: s.key } })),
  ];
}

export type Outcome = 'good' | 'bad' | 'unverified';

/** One signature of a certificate and what checking it found. */
export interface CheckedSig {
  entry: SigEntry;
  /** Index into `Checked.components`. */
  component: number;
  /** Issued by the certificate's own primary key. */
  self: boolean;
  /** A non-exportable signature let through `withoutLocal` (checked against `localIssuer`). */
  local: boolean;
  outcome: Outcome;
  /** The key it verified with, when good. */
  issuer?: KeyPacket;
  /** Creation time; -1 when unparseable. */
  created: number;
}

export interface Checked {
  components: Component[];
  /** Every signature of the certificate, in component order. */
  sigs: CheckedSig[];
  /** Components (by index) with a good self-signature. */
  bound: Set<number>;
  /** Components with an unverified (but not bad) self-signature and no good one. */
  maybeBound: Set<number>;
}

export interface CheckOptions {
  /** A `Verifier`, or anything that answers checks the same way (bulk import collects them to verify a batch at once). */
  verifier: Pick<Verifier, 'verify'>;
  /** The keys a third-party certification or certification revocation on a user ID may be checked against. */
  certifiers(sig: Signature): KeyPacket[];
  /** A designated revoker's key by fingerprint, when at hand (for key revocations by others). */
  revoker?(fpr: string): Promise<KeyPacket | undefined>;
  /** The key a non-exportable signature is checked against; undefined: it stays unverified. */
  localIssuer?(sig: Signature): KeyPacket | undefined;
}

/** Whether node:crypto can verify with this key (cached per fingerprint). */
const usableKeys = new Map<string, boolean>();
export function canVerifyWith(key: KeyPacket): boolean {
  let ok = usableKeys.get(key.fpr);
  if (ok === undefined) {
    try {
      verificationKey(key);
      ok = true;
    } catch {
      ok = false;
    }
    if (usableKeys.size > 10_000) usableKeys.clear();
    usableKeys.set(key.fpr, ok);
  }
  return ok;
}

/** Checks every signature of `cert` that can be checked (see the module comment), in one verifier batch. */
export async function checkSignatures(cert: Cert, opts: CheckOptions): Promise<Checked> {
  const primary = cert.primary;
  const components = componentsOf(cert);
  // Designated revokers, as direct-key self-signatures name them: looked up here, and their
  // revocations kept below only if a good self-signature designates them.
  const revokers = new Set<string>();
  for (const e of cert.directSigs) if (e.sig?.type === SigType.DirectKey && issuedBy(e.sig, primary)) for (const rk of e.sig.revocationKeys) revokers.add(rk.fingerprint);
  const revokerKeys = new Map<string, KeyPacket | undefined>();
  if (opts.revoker) for (const f of revokers) revokerKeys.set(f, await opts.revoker(f));

  const sigs: CheckedSig[] = [];
  const candidates: KeyPacket[][] = [];
  components.forEach((comp, ci) => {
    for (const entry of comp.signatures) {
      const sig = entry.sig;
      const item: CheckedSig = { entry, component: ci, self: false, local: false, outcome: 'unverified', created: sig?.created ?? -1 };
      sigs.push(item);
      let issuers: KeyPacket[] = [];
      if (sig) {
        if (!sig.exportable) {
          item.local = true;
          const key = opts.localIssuer?.(sig);
          if (key) issuers = [key];
        } else if (issuedBy(sig, primary)) {
          item.self = true;
          issuers = [primary];
        } else if (comp.kind === 'user' && (isCertification(sig.type) || sig.type === SigType.CertRevocation)) issuers = opts.certifiers(sig);
        else if (comp.kind === 'key' && sig.type === SigType.KeyRevocation) {
          for (const f of sig.issuerFingerprints.length > 0 ? sig.issuerFingerprints : [...revokers].filter((r) => sig.issuerKeyIds.includes(keyIdOf(r)))) {
            const key = revokerKeys.get(f);
            if (key) issuers.push(key);
          }
        }
      }
      candidates.push(sig && HASH_NAMES[sig.hashAlgorithm] ? issuers.filter(canVerifyWith) : []);
    }
  });

  const checks: SigCheck[] = [];
  const owner: number[] = [];
  sigs.forEach((item, i) => {
    for (const issuer of candidates[i]) {
      checks.push({ issuer, sig: item.entry.sig!, target: components[item.component].target });
      owner.push(i);
    }
  });
  const results = checks.length > 0 ? await opts.verifier.verify(checks) : [];
  results.forEach((ok, j) => {
    const item = sigs[owner[j]];
    if (ok) {
      item.outcome = 'good';
      item.issuer ??= checks[j].issuer;
    } else if (item.outcome !== 'good') item.outcome = 'bad';
  });
  refuseUndesignatedRevocations(components, sigs);

  const bound = new Set<number>();
  const maybeBound = new Set<number>();
  for (const item of sigs) {
    if (!item.self) continue;
    if (item.outcome === 'good') bound.add(item.component);
    else if (item.outcome === 'unverified') maybeBound.add(item.component);
  }
  for (const ci of bound) maybeBound.delete(ci);
  return { components, sigs, bound, maybeBound };
}

/**
 * A key revocation by another key counts only when a good direct-key self-signature designates
 * that key: a designation that merely claims to be the key's own would let anyone holding a key
 * pile revocations onto anybody's certificate (each one verifies against the piler's own key).
 * Such a revocation is marked bad.
 */
function refuseUndesignatedRevocations(components: Component[], sigs: CheckedSig[]): void {
  const designated = new Set<string>();
  for (const item of sigs) {
    const sig = item.entry.sig;
    if (item.self && item.outcome === 'good' && sig?.type === SigType.DirectKey && components[item.component].kind === 'key') {
      for (const rk of sig.revocationKeys) designated.add(rk.fingerprint);
    }
  }
  for (const item of sigs) {
    const byOther = !item.self && !item.local && item.outcome === 'good' && components[item.component].kind === 'key';
    if (byOther && item.entry.sig?.type === SigType.KeyRevocation && !designated.has(item.issuer?.fpr ?? '')) item.outcome = 'bad';
  }
}

/** User IDs, attributes and subkeys (by component index) with neither a good nor an unverifiable self-signature. */
export function unboundComponents(checked: Checked, opts: { allowUnverified: boolean } = { allowUnverified: true }): Set<number> {
  const out = new Set<number>();
  checked.components.forEach((comp, ci) => {
    if (comp.kind === 'key') return;
    if (checked.bound.has(ci)) return;
    if (opts.allowUnverified && checked.maybeBound.has(ci)) return;
    out.add(ci);
  });
  return out;
}

/**
 * The certificate with only the components not in `dropComponents` and the signatures in
 * `keep`, packets in their order (trust, marker and unknown packets left out). Returns
 * undefined when that is the whole certificate.
 */
export function rebuildCert(cert: Cert, components: Component[], dropComponents: Set<number>, keep: Set<SigEntry>): { cert: Cert; otherDropped: number } | undefined {
  const keepPackets = new Set<Packet>([cert.primary.packet]);
  components.forEach((comp, ci) => {
    if (dropComponents.has(ci)) return;
    if (comp.packet) keepPackets.add(comp.packet);
    for (const e of comp.signatures) if (keep.has(e)) keepPackets.add(e.packet);
  });
  const packets = cert.packets.filter((p) => keepPackets.has(p));
  if (packets.length === cert.packets.length) return undefined;
  const componentPackets = new Set(components.map((c) => c.packet));
  const otherDropped = cert.packets.filter((p) => !keepPackets.has(p) && p.tag !== Tag.Signature && !componentPackets.has(p)).length;
  const keepSigs = (list: SigEntry[]) => list.filter((e) => keep.has(e));
  const nUsers = cert.users.length;
  return {
    cert: {
      primary: cert.primary,
      directSigs: keepSigs(cert.directSigs),
      users: cert.users.filter((_, i) => !dropComponents.has(1 + i)).map((u) => ({ ...u, signatures: keepSigs(u.signatures) })),
      subkeys: cert.subkeys.filter((_, i) => !dropComponents.has(1 + nUsers + i)).map((s) => ({ ...s, signatures: keepSigs(s.signatures) })),
      secret: false,
      packets,
    },
    otherDropped,
  };
}
