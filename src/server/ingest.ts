/**
 * The keyserver's ingest policy (docs/design/keyserver.md, rule by rule): what of a
 * certificate from outside is stored and served. One function, `applyPolicy`, takes the
 * stored copy (if any) merged with what came in and returns what to store, what to hold
 * aside and what was dropped, by reason. It reads the store (issuer keys, who certified
 * them) but never writes it; keyserver.ts writes.
 *
 * Shared with the authentication service's ingest (src/verify/sanitize.ts): public packets
 * only, no local signatures, every signature checked against the key it names, unbound user
 * IDs and subkeys left out. Ours on top: known issuers are every key the server holds; a
 * certification by an unknown issuer is held aside; a per-certificate budget for
 * third-party certifications (newest per issuer and user ID, issuers connected to other
 * stored keys first, count and size caps) that never trims self-signatures, revocations or
 * first-party attested certifications.
 */
import { createHash } from 'node:crypto';
import type { UnixTime } from '../clock.js';
import { HASH_NAMES } from '../openpgp/algorithms.js';
import type { Cert, SigEntry } from '../openpgp/cert.js';
import { asFingerprint } from '../openpgp/fingerprint.js';
import { type KeyPacket, parseKeyPacket } from '../openpgp/key-packet.js';
import { canonicalCert } from '../openpgp/merge.js';
import { type Packet, readPacket } from '../openpgp/packets.js';
import { type Signature, SigType } from '../openpgp/signature.js';
import type { HeldCertification, Store } from '../store/types.js';
import {
  addIssuerKey,
  type CheckedSig,
  checkSignatures,
  componentsOf,
  isCertification,
  type IssuerKeys,
  issuerKeyId,
  issuerKeys,
  issuersIn,
  publicOnly,
  rebuildCert,
  unboundComponents,
  withoutLocal,
} from '../verify/sanitize.js';
import type { Verifier } from '../verify/verifier.js';

/** The ingest policy's knobs (docs/design/keyserver.md). Sizes in bytes, windows in seconds. */
export interface IngestPolicy {
  /** Largest upload taken (the bytes as sent, armored or not); over it: MS_KS_TOO_LARGE (413). */
  maxUploadBytes: number;
  /** Most certificates in one upload; over it: MS_KS_TOO_LARGE. */
  maxUploadCerts: number;
  /** Largest packet taken (user attributes excepted); over it the upload is refused: MS_KS_TOO_LARGE. */
  maxPacketBytes: number;
  /** Largest user attribute packet (a photo). */
  maxAttributeBytes: number;
  /** Third-party certifications served per certificate (attested ones and revocations not counted). */
  maxCertifications: number;
  /** Bytes of third-party certifications served per certificate (same exceptions). */
  maxCertificationBytes: number;
  /** Certifications held aside per certificate (issuer unknown). */
  maxHeld: number;
  /** Uploads one client may make per window; over it: MS_KS_RATE_LIMITED (429). */
  clientUploads: number;
  clientWindow: number;
  /** Changes one certificate may take per window; over it others' new certifications are not taken (`PolicyOptions.overWindow`). */
  certUpdates: number;
  certWindow: number;
}

export const DEFAULT_POLICY: Readonly<IngestPolicy> = Object.freeze({
  maxUploadBytes: 32 * 1024 * 1024,
  maxUploadCerts: 1000,
  maxPacketBytes: 64 * 1024,
  maxAttributeBytes: 1024 * 1024,
  maxCertifications: 100,
  maxCertificationBytes: 64 * 1024,
  maxHeld: 100,
  clientUploads: 60,
  clientWindow: 60,
  certUpdates: 20,
  certWindow: 3600,
});

/**
 * Lets other work on the event loop run (other clients' requests while a flooded certificate
 * is processed: its phases each take a while, and the store is synchronous on SQLite).
 */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Reasons in words, as CertOutcome.dropped counts them. */
export const Reason = {
  bad: 'bad signature',
  unverifiable: 'unverifiable signature',
  unparseable: 'unparseable signature',
  local: 'local signature',
  unboundUserId: 'unbound user ID',
  unboundSubkey: 'unbound subkey',
  overBudget: 'over budget',
  superseded: 'superseded certification',
  orphanRevocation: 'revocation of no certification',
  notCertification: 'misplaced signature',
  secret: 'secret key material',
  rateLimited: 'certification over the update window',
  other: 'other packet',
} as const;

export interface PolicyResult {
  /** What to store: the certificate after the policy; undefined when nothing of it can be stored (no bound user ID or subkey, no revocation). */
  cert?: Cert;
  /** Certifications to hold aside (issuer unknown), newest first, at most `maxHeld`. */
  held: HeldCertification[];
  dropped: Record<string, number>;
}

function count(into: Record<string, number>, reason: string, n = 1): void {
  if (n > 0) into[reason] = (into[reason] ?? 0) + n;
}

/**
 * The incoming certificate cleaned of what no policy keeps: public packets only, canonical,
 * no local signatures. Counts into `dropped`.
 */
export function cleanIncoming(cert: Cert, dropped: Record<string, number>): Cert {
  const pub = publicOnly(canonicalCert(cert));
  count(dropped, Reason.secret, pub.converted);
  const local = withoutLocal(pub.cert);
  count(dropped, Reason.local, local.dropped);
  return local.cert;
}

/**
 * The digest an Attested Certifications subpacket lists for `sig` (RFC 9580 §5.2.3.30, as
 * Sequoia computes it): the hash, with the attestation's algorithm, of 0x88, a four-octet
 * length and the signature packet body with its unhashed area emptied.
 */
export function attestationDigest(sig: Signature, hash: string): Buffer | undefined {
  if (sig.version !== 4) return undefined;
  const body = sig.packet.body;
  const hp = sig.hashedPart.length;
  if (body.length < hp + 2) return undefined;
  const unhashed = body.readUInt16BE(hp);
  const tail = body.subarray(hp + 2 + unhashed);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(hp + 2 + tail.length);
  return createHash(hash).update(Buffer.from([0x88])).update(len).update(sig.hashedPart).update(Buffer.from([0, 0])).update(tail).digest();
}

/** Issuer key IDs named by the third-party signatures on user IDs of `cert`. */
export function thirdPartyIssuerIds(cert: Cert): string[] {
  const ids = new Set<string>();
  for (const u of cert.users) {
    for (const e of u.signatures) {
      const sig = e.sig;
      if (!sig || sig.issuerKeyIds.includes(cert.primary.keyId)) continue;
      for (const id of sig.issuerKeyIds) ids.add(id);
    }
  }
  return [...ids];
}

/**
 * Primary keys of stored certificates by fingerprint: a certificate's primary key packet never
 * changes, so it is parsed once (from the first packet of the stored bytes, not the whole
 * certificate) and kept, up to a bound.
 */
const primaryKeys = new Map<string, KeyPacket | null>();

function storedPrimary(fpr: string, bytes: Buffer): KeyPacket | undefined {
  let key = primaryKeys.get(fpr);
  if (key === undefined) {
    try {
      const k = parseKeyPacket(readPacket(bytes, 0));
      key = k.fpr === fpr ? k : null;
    } catch {
      // A stored row that no longer parses certifies nothing.
      key = null;
    }
    if (primaryKeys.size >= 100_000) primaryKeys.clear();
    primaryKeys.set(fpr, key);
  }
  return key ?? undefined;
}

/**
 * What the policy looked up in one store, kept while the store's certificates stay as they
 * were (its change feed's latest seq: every write that changes a certificate, and so its key
 * and certification index rows, moves it, whoever writes): a bulk import batch, or a flood,
 * names the same issuers again and again.
 */
class StoreLookups {
  /** Key ID → fingerprints of the stored primary keys with it (none: not stored). */
  readonly primaries = new Map<string, string[]>();
  /** Issuer fingerprint → fingerprints of the stored keys that certify it, the issuer left out. */
  readonly certifiers = new Map<string, Set<string>>();
  constructor(readonly seq: number) {}
}

const storeLookups = new WeakMap<Store, StoreLookups>();

async function lookupsIn(store: Store): Promise<StoreLookups> {
  const seq = await store.changes.latest();
  let l = storeLookups.get(store);
  if (!l || l.seq !== seq || l.primaries.size + l.certifiers.size > 100_000) {
    l = new StoreLookups(seq);
    storeLookups.set(store, l);
  }
  return l;
}

/** Fingerprints of the stored primary keys with these key IDs, by key ID; one store query for all not looked up before. */
async function primariesOf(store: Store, l: StoreLookups, keyIds: Iterable<string>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const missing: string[] = [];
  for (const raw of keyIds) {
    const id = raw.toUpperCase();
    const known = l.primaries.get(id);
    if (known) out.set(id, known);
    else if (!out.has(id)) {
      out.set(id, []);
      missing.push(id);
    }
  }
  if (missing.length > 0) {
    const found = new Map<string, string[]>(missing.map((id) => [id, []]));
    for (const p of await store.certs.primariesByKeyId(missing)) found.get(p.keyId)?.push(p.fpr);
    for (const [id, fprs] of found) {
      l.primaries.set(id, fprs);
      out.set(id, fprs);
    }
  }
  return out;
}

/** The stored primary keys among these key IDs (batch lookups: a flood names thousands). */
export async function storedIssuers(store: Store, keyIds: string[], exclude: string): Promise<IssuerKeys> {
  const known = issuerKeys();
  const byId = await primariesOf(store, await lookupsIn(store), keyIds);
  // In the store's order (key ID, then fingerprint), as primariesByKeyId gives them.
  const ids = [...byId.keys()].sort();
  const fprs = [...new Set(ids.flatMap((id) => [...byId.get(id)!].sort()).filter((f) => f !== exclude))];
  const missing: string[] = [];
  for (const f of fprs) {
    const key = primaryKeys.get(f);
    if (key) addIssuerKey(known, key);
    else if (key === undefined) missing.push(f);
  }
  for (const s of missing.length > 0 ? await store.certs.getMany(missing) : []) {
    const key = storedPrimary(s.fpr, s.bytes);
    if (key) addIssuerKey(known, key);
  }
  return known;
}

/**
 * How connected each issuer is: the number of other stored keys that certify it (by the
 * certification index, unverified claims of stored certificates, excluding the target and the
 * issuer itself). Used only to order certifications for the budget.
 */
async function connectedness(store: Store, issuers: KeyPacket[], target: string): Promise<Map<string, number>> {
  const l = await lookupsIn(store);
  const rowsOf = new Map<string, string[]>();
  for (const key of issuers) {
    if (l.certifiers.has(key.fpr) || rowsOf.has(key.fpr)) continue;
    const rows = await store.certifications.certificationsOf(key.fpr);
    rowsOf.set(key.fpr, rows.map((r) => r.issuer).filter((id) => id !== key.keyId));
  }
  // The certifiers' key IDs of every issuer resolved in one lookup.
  const byId = await primariesOf(store, l, [...rowsOf.values()].flat());
  for (const [fpr, ids] of rowsOf) l.certifiers.set(fpr, new Set(ids.flatMap((id) => byId.get(id.toUpperCase()) ?? []).filter((f) => f !== fpr)));
  const out = new Map<string, number>();
  for (const key of issuers) {
    const certifiers = l.certifiers.get(key.fpr)!;
    out.set(key.fpr, certifiers.size - (certifiers.has(target) ? 1 : 0));
  }
  return out;
}

interface Candidate {
  item: CheckedSig;
  sig: Signature;
  /** User component index. */
  component: number;
  issuer: string;
  size: number;
}

const newestFirst = (a: Candidate, b: Candidate) => b.sig.created - a.sig.created || Buffer.compare(a.item.entry.packet.body, b.item.entry.packet.body);

/**
 * Applies the policy to `cert`: the stored copy merged with what came in (cleaned by
 * `cleanIncoming`), or what came in alone. `now` dates held certifications.
 */
export interface PolicyOptions {
  /** Keys counted as held though not stored yet (the rest of a file being loaded). */
  extraIssuers?: IssuerKeys;
  /** The stored copy `cert` was merged from: what it holds was admitted before (its revocations stay). */
  stored?: Cert;
  /**
   * The certificate is over its update window: no third-party certification is admitted or
   * held that `stored` does not hold already (what its own key signs, attested certifications
   * and revocations of admitted certifications still are).
   */
  overWindow?: boolean;
}

/** Certifications and revocations by one known issuer on one user ID that are verified, newest first (more are older copies or junk). */
const VERIFIED_PER_ISSUER = 3;

/**
 * `cert` without the third-party certifications (and certification revocations) by known
 * issuers beyond the newest VERIFIED_PER_ISSUER of each kind per issuer and user ID, unless
 * stored before: a key the server holds could otherwise make the server verify, and cache,
 * any number of certifications it made (the budget keeps one anyway). Counted as superseded.
 */
function preTrim(cert: Cert, known: IssuerKeys, stored: Cert | undefined, dropped: Record<string, number>): Cert {
  const admitted = new Set(stored?.users.flatMap((u) => u.signatures.map((e) => e.packet.body.toString('latin1'))) ?? []);
  const drop = new Set<SigEntry>();
  for (const u of cert.users) {
    if (u.signatures.length <= VERIFIED_PER_ISSUER) continue;
    const groups = new Map<string, SigEntry[]>();
    for (const e of u.signatures) {
      const sig = e.sig;
      if (!sig?.exportable || sig.issuerKeyIds.includes(cert.primary.keyId)) continue;
      if (!isCertification(sig.type) && sig.type !== SigType.CertRevocation) continue;
      if (issuersIn(known, sig).length === 0) continue;
      const k = `${sig.type === SigType.CertRevocation ? 'r' : 'c'}:${issuerKeyId(sig)}`;
      groups.set(k, [...(groups.get(k) ?? []), e]);
    }
    for (const list of groups.values()) {
      if (list.length <= VERIFIED_PER_ISSUER) continue;
      list.sort((a, b) => b.sig!.created - a.sig!.created || Buffer.compare(a.packet.body, b.packet.body));
      for (const e of list.slice(VERIFIED_PER_ISSUER)) if (!admitted.has(e.packet.body.toString('latin1'))) drop.add(e);
    }
  }
  if (drop.size === 0) return cert;
  count(dropped, Reason.superseded, drop.size);
  const keep = new Set<SigEntry>();
  for (const list of [cert.directSigs, ...cert.users.map((u) => u.signatures), ...cert.subkeys.map((k) => k.signatures)]) for (const e of list) if (!drop.has(e)) keep.add(e);
  return rebuildCert(cert, componentsOf(cert), new Set(), keep)?.cert ?? cert;
}

export async function applyPolicy(store: Store, input: Cert, policy: IngestPolicy, verifier: Verifier, now: UnixTime, opts: PolicyOptions = {}): Promise<PolicyResult> {
  const { extraIssuers } = opts;
  const dropped: Record<string, number> = {};
  let cert = input;
  const primary = cert.primary;
  const big = cert.packets.length > 10_000;
  // Issuers among the extra keys (the file being loaded) need no store lookup: the same key is stored under the same fingerprint.
  const ids = thirdPartyIssuerIds(cert);
  const fromExtra: KeyPacket[] = [];
  const lookup = extraIssuers ? ids.filter((id) => !extraIssuers.byKeyId.has(id)) : ids;
  if (extraIssuers) for (const id of ids) for (const key of extraIssuers.byKeyId.get(id) ?? []) if (key.fpr !== primary.fpr) fromExtra.push(key);
  const known = lookup.length > 0 ? await storedIssuers(store, lookup, primary.fpr) : issuerKeys();
  for (const key of fromExtra) addIssuerKey(known, key);
  if (big) await yieldToLoop();
  cert = preTrim(cert, known, opts.stored, dropped);
  const revokerCache = new Map<string, KeyPacket | undefined>();
  const checked = await checkSignatures(cert, {
    verifier,
    certifiers: (sig) => issuersIn(known, sig),
    revoker: async (fpr) => {
      if (!revokerCache.has(fpr)) {
        const s = await store.certs.get(fpr);
        let key: KeyPacket | undefined;
        try {
          key = s?.cert.primary;
        } catch {
          key = undefined;
        }
        revokerCache.set(fpr, key);
      }
      return revokerCache.get(fpr);
    },
  });
  if (big) await yieldToLoop();
  // Rule: user IDs and subkeys need a good self-signature; unverifiable ones do not count.
  const unbound = unboundComponents(checked, { allowUnverified: false });
  for (const ci of unbound) count(dropped, checked.components[ci].kind === 'user' ? Reason.unboundUserId : Reason.unboundSubkey);

  const keep = new Set<SigEntry>();
  const attestedBy = new Map<number, { created: number; digests: Set<string> }>();
  const goodThirdParty: Candidate[] = [];
  const unknownThirdParty: Candidate[] = [];
  const revocations: Candidate[] = [];

  // Attestations first: the newest good attestation on each user ID names what it attests.
  for (const item of checked.sigs) {
    const sig = item.entry.sig;
    if (!item.self || item.outcome !== 'good' || !sig || sig.type !== SigType.Attestation) continue;
    const prev = attestedBy.get(item.component);
    if (!prev || sig.created >= prev.created) {
      attestedBy.set(item.component, { created: sig.created, digests: new Set(sig.attested.map((d) => `${sig.hashAlgorithm}:${d.toString('hex')}`)) });
    }
  }
  const isAttested = (c: Candidate) => {
    const digests = attestedBy.get(c.component)?.digests;
    if (!digests || digests.size === 0) return false;
    const algs = new Set([...digests].map((k) => Number(k.slice(0, k.indexOf(':')))));
    for (const alg of algs) {
      const name = HASH_NAMES[alg];
      const d = name ? attestationDigest(c.sig, name) : undefined;
      if (d && digests.has(`${alg}:${d.toString('hex')}`)) return true;
    }
    return false;
  };

  for (const item of checked.sigs) {
    if (unbound.has(item.component)) {
      if (item.outcome === 'bad') count(dropped, Reason.bad);
      continue;
    }
    const sig = item.entry.sig;
    const comp = checked.components[item.component];
    if (!sig) {
      count(dropped, Reason.unparseable);
      continue;
    }
    if (item.self) {
      // Rule: self-signatures (bindings, revocations, attestations) are kept when good, never trimmed.
      if (item.outcome === 'good') keep.add(item.entry);
      else count(dropped, item.outcome === 'bad' ? Reason.bad : Reason.unverifiable);
      continue;
    }
    if (item.outcome === 'bad') {
      count(dropped, Reason.bad);
      continue;
    }
    if (comp.kind === 'key' && sig.type === SigType.KeyRevocation && item.outcome === 'good') {
      // A designated revoker's revocation: never trimmed.
      keep.add(item.entry);
      continue;
    }
    const onUser = comp.kind === 'user' && (isCertification(sig.type) || sig.type === SigType.CertRevocation);
    if (!onUser) {
      count(dropped, item.outcome === 'good' ? Reason.notCertification : Reason.unverifiable);
      continue;
    }
    const c: Candidate = { item, sig, component: item.component, issuer: issuerKeyId(sig) ?? '', size: item.entry.packet.raw.length };
    if (item.outcome === 'good') {
      if (sig.type === SigType.CertRevocation) revocations.push(c);
      else goodThirdParty.push(c);
    } else unknownThirdParty.push(c);
  }

  if (big) await yieldToLoop();
  // Rule: first-party attested certifications are always kept, verified or not (the key holder vouches for them).
  const rest: Candidate[] = [];
  for (const c of goodThirdParty) (isAttested(c) ? keep.add(c.item.entry) : rest.push(c));
  const unknownRest: Candidate[] = [];
  for (const c of unknownThirdParty) {
    if (c.sig.type !== SigType.CertRevocation && isAttested(c)) keep.add(c.item.entry);
    else unknownRest.push(c);
  }

  const admitted = new Set(opts.stored?.users.flatMap((u) => u.signatures.map((e) => e.packet.body.toString('latin1'))) ?? []);
  const isAdmitted = (c: Candidate) => admitted.has(c.item.entry.packet.body.toString('latin1'));
  // Rule: over the update window others cannot change the certificate: certifications it does
  // not hold yet are dropped, none is held aside (it would be released onto it later), and a
  // certifier may revoke its certification once, not replace that revocation again and again.
  if (opts.overWindow) {
    const issuerOn = (c: Candidate) => `${c.component}:${c.issuer}`;
    const revokedBefore = new Set(revocations.filter(isAdmitted).map(issuerOn));
    const keepOnly = (list: Candidate[], ok: (c: Candidate) => boolean) => {
      const kept = list.filter(ok);
      count(dropped, Reason.rateLimited, list.length - kept.length);
      list.splice(0, list.length, ...kept);
    };
    keepOnly(rest, isAdmitted);
    keepOnly(unknownRest, isAdmitted);
    keepOnly(revocations, (c) => isAdmitted(c) || !revokedBefore.has(issuerOn(c)));
  }

  // Rule: a certification revocation by a known issuer is kept (the newest per issuer and user
  // ID) when that issuer certified that user ID, or when it was stored before (its
  // certification may since have been trimmed): a revocation of nothing is not kept, or stored
  // keys could flood revocations past the budget.
  const newestPer = (list: Candidate[]) => {
    const best = new Map<string, Candidate>();
    for (const c of [...list].sort(newestFirst)) {
      const k = `${c.component}:${c.issuer}`;
      if (!best.has(k)) best.set(k, c);
    }
    return best;
  };
  const revs = newestPer(revocations);
  // (Over the update window, only certifications it may keep count as made.)
  const made = opts.overWindow ? goodThirdParty.filter((c) => isAdmitted(c) || isAttested(c)) : goodThirdParty;
  const certified = new Set(made.map((c) => `${c.component}:${c.issuer}`));
  for (const [k, c] of revs) {
    if (certified.has(k) || isAdmitted(c)) keep.add(c.item.entry);
    else count(dropped, Reason.orphanRevocation);
  }
  count(dropped, Reason.superseded, revocations.length - revs.size);

  // Rule: the newest certification per issuer and user ID; then issuers connected to other
  // stored keys first, newest first, within the count and size caps.
  const newest = newestPer(rest);
  count(dropped, Reason.superseded, rest.length - newest.size);
  const issuerKeysOf = new Map<string, KeyPacket>();
  for (const c of newest.values()) if (c.item.issuer) issuerKeysOf.set(c.item.issuer.fpr, c.item.issuer);
  // Connectedness is looked up only when the caps will cut: it costs two queries per issuer.
  const ranked0 = [...newest.values()];
  const wouldCut = ranked0.length > policy.maxCertifications || ranked0.reduce((a, c) => a + c.size, 0) > policy.maxCertificationBytes;
  const connected = wouldCut && issuerKeysOf.size > 0 ? await connectedness(store, [...issuerKeysOf.values()], primary.fpr) : new Map<string, number>();
  const ranked = ranked0.sort((a, b) => (connected.get(b.item.issuer!.fpr) ?? 0) - (connected.get(a.item.issuer!.fpr) ?? 0) || newestFirst(a, b));
  let n = 0;
  let bytes = 0;
  for (const c of ranked) {
    if (n < policy.maxCertifications && bytes + c.size <= policy.maxCertificationBytes) {
      keep.add(c.item.entry);
      n++;
      bytes += c.size;
    } else count(dropped, Reason.overBudget);
  }

  // Rule: certifications by unknown issuers are held aside (newest per issuer and user ID, at most maxHeld), not served.
  const held: HeldCertification[] = [];
  const unknownNewest = [...newestPer(unknownRest).values()].sort(newestFirst);
  count(dropped, Reason.superseded, unknownRest.length - unknownNewest.length);
  for (const c of unknownNewest) {
    if (held.length < policy.maxHeld && c.issuer) {
      const comp = checked.components[c.component].packet as Packet;
      held.push({ target: asFingerprint(primary.fpr), issuer: c.issuer as HeldCertification['issuer'], component: comp.raw, sig: c.item.entry.packet.raw, created: c.sig.created, held: now });
    } else count(dropped, Reason.overBudget);
  }

  if (big) await yieldToLoop();
  const rebuilt = rebuildCert(cert, checked.components, unbound, keep);
  const result = rebuilt?.cert ?? cert;
  if (rebuilt) count(dropped, Reason.other, rebuilt.otherDropped);
  // Nothing left to serve: no bound user ID or subkey and no revocation.
  const revoked = result.directSigs.some((e) => e.sig?.type === SigType.KeyRevocation);
  const usable = result.users.length > 0 || result.subkeys.length > 0 || revoked;
  return { cert: usable ? result : undefined, held, dropped };
}
