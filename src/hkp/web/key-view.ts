/**
 * What the key page and the result list show of stored certificates, evaluated at a reference
 * time (src/cert/evaluate.ts): the primary key's state, user IDs with their certifications
 * (issuer, whether it verified against an issuer the server holds, whether the key holder
 * attested it), subkeys with capabilities. Signatures are checked through the store's shared
 * verification cache. Every list is bounded, so a flooded certificate costs a fixed amount.
 * No HTML here: pages.ts renders these views.
 */
import { evaluateCerts } from '../../cert/evaluate.js';
import type { Certification, EvaluatedCert, Revocation, Status, UserIdState } from '../../cert/types.js';
import type { UnixTime } from '../../clock.js';
import { Keyring } from '../../keyring/keyring.js';
import type { Cert, SigEntry } from '../../openpgp/cert.js';
import { keyIdOf } from '../../openpgp/fingerprint.js';
import type { KeyPacket } from '../../openpgp/key-packet.js';
import { type Signature, SigType } from '../../openpgp/signature.js';
import type { StoredCert, Store } from '../../store/types.js';
import type { VerificationCache } from '../../verify/cache.js';
import { Verifier } from '../../verify/verifier.js';
import { algorithmLabel, attestationDigest, capabilities } from './describe.js';

/** The bounds of one key page. */
export interface KeyViewLimits {
  /** Third-party signatures per user ID that are looked at (issuer looked up, verified); the rest are counted. */
  examinedPerUserId: number;
  /** Third-party signatures looked at over all user IDs. */
  examinedTotal: number;
  /** Certifications listed per user ID; the rest are counted. */
  shownPerUserId: number;
  /** Certifications listed over the whole page. */
  shownTotal: number;
  /** User IDs and attributes listed. */
  userIds: number;
  subkeys: number;
  /** Distinct issuers looked up in the store. */
  issuerLookups: number;
  /** Keys listed as certified by this one. */
  certified: number;
}

/** The bounds a key page uses unless told otherwise. */
export const DEFAULT_KEY_VIEW_LIMITS: Readonly<KeyViewLimits> = Object.freeze({
  examinedPerUserId: 1000,
  examinedTotal: 5000,
  shownPerUserId: 50,
  shownTotal: 500,
  userIds: 100,
  subkeys: 100,
  issuerLookups: 500,
  certified: 50,
});

/** A primary key or subkey as listed: fingerprint, key ID, version, algorithm and size, creation. */
export interface KeyInfo {
  fpr: string;
  keyId: string;
  version: number;
  algorithm: string;
  created: UnixTime;
}

/** One third-party certification (or certification revocation) on a user ID, as the page shows it. */
export interface CertificationView {
  /** The issuer's key ID as the signature names it. */
  issuerKeyId: string;
  /** The issuer's fingerprint when the server holds the issuer (or the signature names it). */
  issuerFpr?: string;
  /** Whether the issuer's certificate is on this server. */
  issuerOnServer: boolean;
  /** The issuer's primary user ID, when the server holds the issuer. */
  issuerName?: string;
  /** The issuer's own state (revoked or expired issuers are flagged). */
  issuerStatus?: Status;
  type: number;
  created: UnixTime;
  expires?: UnixTime;
  /** Verification outcome (src/cert/types.ts SigOutcome): `good` means it verified and policy accepts it. */
  outcome: Certification['outcome'];
  reason?: string;
  /** Listed by the key holder's newest valid attestation (first-party attested, 1PA3PC). */
  attested: boolean;
  /** Withdrawn by a later verified certification revocation from the same issuer. */
  revokedByIssuer: boolean;
  trust?: { level: number; amount: number };
  regexes: string[];
  exportable: boolean;
}

/** A user ID or attribute with its state and its certifications (bounded, with counts). */
export interface UserIdView {
  kind: 'userid' | 'attribute';
  /** The user ID text; empty for attributes. */
  text: string;
  /** Size of an attribute (a photo, usually), in bytes. */
  size: number;
  status: Status;
  primary: boolean;
  selfSigned?: UnixTime;
  expires?: UnixTime;
  revocation?: Revocation;
  certifications: CertificationView[];
  /** Third-party signatures on this user ID, all of them. */
  certificationCount: number;
  /** Verified third-party certifications among those examined. */
  verifiedCount: number;
  attestedCount: number;
  /** Third-party signatures not examined (beyond the bound). */
  notExamined: number;
}

/** A subkey with its state and capabilities at the reference time. */
export interface SubkeyView extends KeyInfo {
  status: Status;
  capabilities: string[];
  expires?: UnixTime;
  revocation?: Revocation;
  problems: string[];
}

/** Everything the key page shows, evaluated at `now`. */
export interface KeyView extends KeyInfo {
  status: Status;
  expires?: UnixTime;
  revocation?: Revocation;
  capabilities: string[];
  problems: string[];
  /**
   * Keys on the server that carry a certification naming this key as issuer (the store's index of
   * claims; each is verified on the certified key's own page), at most `limits.certified`.
   */
  certified: Array<{ fpr: string; userId?: string; trust: boolean }>;
  /** How many more certified keys there are than are listed. */
  certifiedMore: number;
  /** Keys the key names as designated revokers (RFC 9580 §5.2.3.23), and whether the server holds them. */
  revokers: Array<{ fpr: string; onServer: boolean; sensitive: boolean }>;
  userIds: UserIdView[];
  userIdsHidden: number;
  subkeys: SubkeyView[];
  subkeysHidden: number;
  /** The stored certificate's size in bytes, and when the server first and last stored it. */
  size: number;
  /** Third-party certifications held aside (issuer not on the server yet): not served, not in `userIds`. */
  held: number;
  stored: { created: UnixTime; updated: UnixTime };
  now: UnixTime;
}

/** A row of the result list. */
export interface SummaryView extends KeyInfo {
  status: Status;
  expires?: UnixTime;
  /** User ID texts, primary first; bound ones before unbound. */
  userIds: Array<{ text: string; status: Status; primary: boolean }>;
  userIdsHidden: number;
  subkeyCount: number;
}

/**
 * The store's verification cache as page views use it: every outcome is looked up there, only
 * good ones are added (as the keyserver's ingest does), so viewing pages cannot fill the shared
 * cache with failures.
 */
class GoodOnlyCache implements VerificationCache {
  constructor(private readonly shared: VerificationCache) {}
  lookup(keys: Buffer[]): Promise<Map<string, boolean>> {
    return this.shared.lookup(keys);
  }
  async record(entries: Array<[Buffer, boolean]>): Promise<void> {
    const good = entries.filter(([, ok]) => ok);
    if (good.length > 0) await this.shared.record(good);
  }
}

function verifierFor(store: Store): Verifier {
  return new Verifier({ cache: new GoodOnlyCache(store.verifications) });
}

/** The listing of a key packet. */
export function keyInfo(key: KeyPacket): KeyInfo {
  return { fpr: key.fpr, keyId: key.keyId, version: key.version, algorithm: algorithmLabel(key), created: key.created };
}

const isThirdPartyType = (t: number) => (t >= SigType.GenericCert && t <= SigType.PositiveCert) || t === SigType.CertRevocation;

function issuedBy(sig: Signature, key: KeyPacket): boolean {
  return sig.issuerFingerprints.length > 0 ? sig.issuerFingerprints.includes(key.fpr) : sig.issuerKeyIds.includes(key.keyId);
}

/**
 * The certificate with at most `perUserId` third-party signatures per user ID and `overall` in
 * all (self-signatures all kept: they decide validity), and how many were left out per user ID.
 */
function trimmed(cert: Cert, perUserId: number, overall = Number.POSITIVE_INFINITY): { cert: Cert; left: Map<object, number>; total: Map<object, number> } {
  const left = new Map<object, number>();
  const total = new Map<object, number>();
  let budget = overall;
  const users = cert.users.map((u) => {
    const kept: SigEntry[] = [];
    let third = 0;
    let taken = 0;
    for (const e of u.signatures) {
      if (!e.sig) continue;
      if (issuedBy(e.sig, cert.primary) || !isThirdPartyType(e.sig.type)) kept.push(e);
      else if (third++ < perUserId && budget > 0) {
        kept.push(e);
        taken++;
        budget--;
      }
    }
    left.set(u.packet, third - taken);
    total.set(u.packet, third);
    return { ...u, signatures: kept };
  });
  return { cert: { ...cert, users }, left, total };
}

/** Issuers (and designated revokers) named in the certificate, by fingerprint and by bare key ID. */
function namedIssuers(cert: Cert): { fprs: Set<string>; keyIds: Set<string> } {
  const fprs = new Set<string>();
  const keyIds = new Set<string>();
  for (const u of cert.users) {
    for (const e of u.signatures) {
      const sig = e.sig;
      if (!sig || issuedBy(sig, cert.primary) || !isThirdPartyType(sig.type)) continue;
      if (sig.issuerFingerprints.length > 0) for (const f of sig.issuerFingerprints) fprs.add(f);
      else for (const k of sig.issuerKeyIds) keyIds.add(k);
    }
  }
  for (const e of cert.directSigs) for (const rk of e.sig?.revocationKeys ?? []) fprs.add(rk.fingerprint);
  fprs.delete(cert.primary.fpr);
  keyIds.delete(cert.primary.keyId);
  return { fprs, keyIds };
}

/** The issuers' certificates the store holds, at most `limit` lookups. */
async function loadIssuers(store: Store, named: { fprs: Set<string>; keyIds: Set<string> }, limit: number): Promise<Cert[]> {
  const fprs = [...named.fprs].slice(0, limit);
  const found = new Map<string, Cert>();
  for (let i = 0; i < fprs.length; i += 100) {
    for (const sc of await store.certs.getMany(fprs.slice(i, i + 100))) found.set(sc.fpr, sc.cert);
  }
  const keyIds = [...named.keyIds].slice(0, Math.max(0, limit - fprs.length));
  for (const id of keyIds) {
    for (const sc of await store.certs.byKeyId(id)) if (sc.cert.primary.keyId === id) found.set(sc.fpr, sc.cert);
  }
  return [...found.values()];
}

function primaryUserIdText(ev: EvaluatedCert): string | undefined {
  return (ev.userIds.find((u) => u.primary && u.component.kind === 'userid') ?? ev.userIds.find((u) => u.component.kind === 'userid'))?.text;
}

/** Digests the user ID's newest valid attestation lists, checked with each hash its attestations use. */
function attestedSet(state: UserIdState): { digests: Set<string>; hashes: number[] } {
  const digests = new Set(state.attested);
  const hashes = new Set<number>();
  if (digests.size > 0) for (const e of state.component.signatures) if (e.sig?.type === SigType.Attestation) hashes.add(e.sig.hashAlgorithm);
  return { digests, hashes: [...hashes] };
}

function isAttested(sig: Signature, att: { digests: Set<string>; hashes: number[] }): boolean {
  if (att.digests.size === 0) return false;
  return att.hashes.some((h) => {
    const d = attestationDigest(sig, h);
    return d !== undefined && att.digests.has(d.toString('hex'));
  });
}

/** Rank for listing: verified and attested first, then verified, attested, unknown issuer, the rest. */
function rank(c: CertificationView): number {
  if (c.outcome === 'good') return c.attested ? 0 : 1;
  if (c.attested) return 2;
  if (c.outcome === 'no-key') return 3;
  return 4;
}

function userIdOrder(u: UserIdView): number {
  if (u.primary) return 0;
  if (u.kind === 'userid') return u.status === 'valid' ? 1 : 2;
  return 3;
}

/**
 * The key page of a stored certificate at `now`. Looks up issuers in the store (bounded),
 * verifies what can be verified through `store.verifications`, and never throws for what a
 * certificate holds: a bad signature is an answer shown on the page.
 */
export async function buildKeyView(store: Store, stored: StoredCert, now: UnixTime, limits: KeyViewLimits = DEFAULT_KEY_VIEW_LIMITS): Promise<KeyView> {
  const { cert, left, total } = trimmed(stored.cert, limits.examinedPerUserId, limits.examinedTotal);
  const [issuers, held, certifiedRows] = await Promise.all([
    loadIssuers(store, namedIssuers(cert), limits.issuerLookups),
    store.held.count(stored.fpr),
    store.certifications.certifiedBy([stored.cert.primary.keyId]),
  ]);
  const targets = [...new Set(certifiedRows.map((r) => r.target as string))].filter((f) => f !== stored.fpr);
  const certifiedCerts = await store.certs.getMany(targets.slice(0, limits.certified));
  const trustRows = new Set(certifiedRows.filter((r) => r.trust).map((r) => r.target as string));
  const keyring = new Keyring([cert, ...issuers]);
  const verifier = verifierFor(store);
  const [ev] = await evaluateCerts([cert], keyring, { now, verifier });
  const issuerStates = new Map<string, EvaluatedCert>();
  if (issuers.length > 0) {
    for (const iev of await evaluateCerts(issuers, keyring, { now, verifier, certifications: false, subkeys: false })) issuerStates.set(iev.fpr, iev);
  }

  const userIds: UserIdView[] = ev.userIds.map((state) => {
    const att = attestedSet(state);
    // A later verified revocation by the same issuer withdraws its certifications (RFC 9580 §5.2.1.14).
    const revokedAt = new Map<string, number>();
    for (const c of state.certifications) {
      if (c.type === SigType.CertRevocation && c.outcome === 'good' && c.issuer) revokedAt.set(c.issuer, Math.max(revokedAt.get(c.issuer) ?? 0, c.created));
    }
    const views = state.certifications.map((c): CertificationView => {
      const issuerEv = c.issuer ? issuerStates.get(c.issuer) : undefined;
      const named = c.sig.issuerFingerprints[0];
      return {
        issuerKeyId: c.issuerKeyId || (named ? keyIdOf(named) : ''),
        issuerFpr: c.issuer ?? named,
        issuerOnServer: issuerEv !== undefined,
        issuerName: issuerEv ? primaryUserIdText(issuerEv) : undefined,
        issuerStatus: issuerEv?.primary.status,
        type: c.type,
        created: c.created,
        expires: c.expires,
        outcome: c.outcome,
        reason: c.policyReason,
        attested: isAttested(c.sig, att),
        revokedByIssuer: c.type !== SigType.CertRevocation && c.issuer !== undefined && (revokedAt.get(c.issuer) ?? -1) >= c.created,
        trust: c.trust,
        regexes: c.regexes,
        exportable: c.exportable,
      };
    });
    views.sort((a, b) => rank(a) - rank(b) || b.created - a.created);
    const component = state.component;
    return {
      kind: component.kind,
      text: component.kind === 'userid' ? state.text : '',
      size: component.packet.body.length,
      status: state.status,
      primary: state.primary,
      selfSigned: state.selfSig?.created,
      expires: state.expires,
      revocation: state.revocation,
      certifications: views.slice(0, limits.shownPerUserId),
      certificationCount: total.get(component.packet) ?? views.length,
      verifiedCount: views.filter((v) => v.outcome === 'good').length,
      attestedCount: views.filter((v) => v.attested).length,
      notExamined: left.get(component.packet) ?? 0,
    };
  });
  userIds.sort((a, b) => userIdOrder(a) - userIdOrder(b));
  // The page as a whole lists at most shownTotal certifications, the first user IDs first.
  let shown = limits.shownTotal;
  for (const u of userIds) {
    u.certifications = u.certifications.slice(0, Math.max(0, shown));
    shown -= u.certifications.length;
  }

  const subkeys: SubkeyView[] = ev.subkeys.map((s) => ({
    ...keyInfo(s.key),
    status: s.status,
    capabilities: capabilities(s.flags),
    expires: s.expires,
    revocation: s.revocation,
    problems: s.problems,
  }));

  return {
    ...keyInfo(ev.cert.primary),
    status: ev.primary.status,
    expires: ev.primary.expires,
    revocation: ev.primary.revocation,
    capabilities: capabilities(ev.primary.flags),
    problems: ev.primary.problems,
    certified: certifiedCerts.map((sc) => ({ fpr: sc.fpr, userId: sc.cert.users.find((u) => u.kind === 'userid')?.text, trust: trustRows.has(sc.fpr) })),
    certifiedMore: Math.max(0, targets.length - certifiedCerts.length),
    revokers: ev.primary.revokers.map((r) => ({ fpr: r.fingerprint, onServer: keyring.get(r.fingerprint) !== undefined, sensitive: (r.class & 0x40) !== 0 })),
    userIds: userIds.slice(0, limits.userIds),
    userIdsHidden: Math.max(0, userIds.length - limits.userIds),
    subkeys: subkeys.slice(0, limits.subkeys),
    subkeysHidden: Math.max(0, subkeys.length - limits.subkeys),
    size: stored.bytes.length,
    held,
    stored: { created: stored.created, updated: stored.updated },
    now,
  };
}

/** How many user IDs a result row lists. */
export const SUMMARY_USER_IDS = 10;

/**
 * Result-list rows for stored certificates at `now`: self-signatures only (third-party
 * certifications are left unchecked), so a page of results costs little.
 */
export async function buildSummaries(store: Store, stored: StoredCert[], now: UnixTime): Promise<SummaryView[]> {
  if (stored.length === 0) return [];
  // Third-party signatures play no part in a summary: leave them out before evaluating.
  const certs = stored.map((sc) => trimmed(sc.cert, 0).cert);
  const verifier = verifierFor(store);
  // Subkeys are only counted here (ingest keeps bound ones only): their bindings are checked on the key page.
  const evs = await evaluateCerts(certs, new Keyring(certs), { now, verifier, certifications: false, subkeys: false });
  return evs.map((ev) => {
    const uids = ev.userIds
      .filter((u) => u.component.kind === 'userid')
      .map((u) => ({ text: u.text, status: u.status, primary: u.primary }))
      .sort((a, b) => Number(b.primary) - Number(a.primary) || Number(b.status === 'valid') - Number(a.status === 'valid'));
    return {
      ...keyInfo(ev.cert.primary),
      status: ev.primary.status,
      expires: ev.primary.expires,
      userIds: uids.slice(0, SUMMARY_USER_IDS),
      userIdsHidden: Math.max(0, uids.length - SUMMARY_USER_IDS),
      subkeyCount: ev.cert.subkeys.length,
    };
  });
}
