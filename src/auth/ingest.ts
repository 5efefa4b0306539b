/**
 * The one way certificates from outside enter the authentication store: keyserver answers
 * (update-users, refresh-keys, gpg-cmd --recv-keys) and files (gpg-cmd --import). The trust
 * core's own writes (its local trust signatures and their revocations, setup) go through
 * AuthStore.putCerts instead: they are made here, not received.
 *
 * What is stored of a certificate from outside:
 * - public packets only: a secret key or subkey packet becomes its public part; trust,
 *   marker, padding and unknown packets are left out;
 * - no non-exportable (local) signature: one that comes from outside was taken off the
 *   machine that made it (RFC 9580 §5.2.3.19) and must not count here;
 * - signatures that can count are verified against the key they name, kept when good and
 *   dropped when bad (forged or damaged): self-signatures (by the primary key), third-party
 *   certifications and certification revocations by a *known issuer*, and key revocations
 *   by a designated revoker whose key is at hand;
 * - everything else (certifications by issuers the server does not know, signatures that
 *   cannot count whoever made them, signatures nothing here can verify, unparseable ones)
 *   shares a budget of UNKNOWN_ISSUER_BUDGET signatures per certificate, newest first
 *   (ties by packet bytes, so the choice never depends on the order they came in), and is
 *   never verified; the rest is dropped and counted;
 * - user IDs, attributes and subkeys without a self-signature, or with only bad ones, are
 *   left out (as gpg's import does).
 * The budget applies again to the stored certificate merged with what came in, so a flood
 * stored before this policy, or arriving in pieces, is cut down at its next update.
 *
 * Known issuers are the keys that can matter to this server's web of trust: the trust core
 * and every key reached from it through good trust signatures (level >= 1) on a user ID, up
 * to gpg's max-cert-depth, whether stored or arriving in the same batch. Only their
 * certifications can make a binding valid (the core is the only key with ownertrust, so a
 * key without a trust signature from that chain never introduces anyone). Any stored key
 * would not do: anyone can have a key stored (list its user ID, or serve it beside the
 * flood in the same answer) and then flood certifications by it.
 * A certification kept unverified within the budget whose issuer later becomes known is
 * verified at the certificate's next update; one dropped before its issuer was known comes
 * back with the next fetch or import of the certificate.
 *
 * Not here: fetching (src/keyserver), how validity is computed (compute.ts).
 */
import type { UnixTime } from '../clock.js';
import type { Cert, SigEntry } from '../openpgp/cert.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { canonicalCert, mergeCerts } from '../openpgp/merge.js';
import type { Signature } from '../openpgp/signature.js';
import type { PutStatus } from '../store/types.js';
import { MemoryVerificationCache, type VerificationCache } from '../verify/cache.js';
import {
  addIssuerKey,
  type CheckedSig,
  checkSignatures,
  type IssuerKeys,
  isCertification,
  issuedBy,
  issuerKeys,
  issuersIn,
  publicOnly,
  rebuildCert,
  unboundComponents,
  withoutLocal,
} from '../verify/sanitize.js';
import { type SigCheck, Verifier } from '../verify/verifier.js';
import { type AuthStore, keyIdOf } from './store.js';

/** Signatures kept per certificate beyond those verified good (see the module comment). */
export const UNKNOWN_ISSUER_BUDGET = 64;

/** A stored certificate this large (bytes) may hold a flood stored before this policy: it is trimmed before merging. */
const LARGE_STORED_BYTES = 256 * 1024;

/** GnuPG's max-cert-depth: how far trust signatures can delegate from the core (compute.ts). */
const MAX_DEPTH = 5;

/** What was left out of a certificate, by reason. */
export interface DroppedCounts {
  /** Signatures over the budget: mostly certifications by issuers the server does not know. */
  unknownIssuers: number;
  /** Non-exportable (local) signatures. */
  local: number;
  /** Signatures that do not verify with the key they name. */
  bad: number;
  /** User IDs, attributes and subkeys without a good self-signature. */
  unbound: number;
  /** Secret key material, trust, marker and unknown packets. */
  other: number;
}

export interface IngestedCert {
  fpr: string;
  /** What the store did: inserted, updated (also when only a stored flood was cut down), or unchanged. */
  status: PutStatus;
  /** The certificate as stored now. */
  cert: Cert;
  dropped: DroppedCounts;
}

export interface IngestResult {
  /** One per certificate (copies of one certificate merged), in the order first given. */
  certs: IngestedCert[];
  /** Sums over all certificates. */
  dropped: DroppedCounts;
}

export interface IngestOptions {
  /** Overrides UNKNOWN_ISSUER_BUDGET (tests). */
  budget?: number;
}

const none = (): DroppedCounts => ({ unknownIssuers: 0, local: 0, bad: 0, unbound: 0, other: 0 });

function add(into: DroppedCounts, from: DroppedCounts): void {
  into.unknownIssuers += from.unknownIssuers;
  into.local += from.local;
  into.bad += from.bad;
  into.unbound += from.unbound;
  into.other += from.other;
}

export function droppedTotal(d: DroppedCounts): number {
  return d.unknownIssuers + d.local + d.bad + d.unbound + d.other;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** "dropped N certifications by unknown issuers, …" for a log line; undefined when nothing was dropped. */
export function describeDropped(d: DroppedCounts): string | undefined {
  const parts: string[] = [];
  if (d.unknownIssuers) parts.push(plural(d.unknownIssuers, 'certification by unknown issuers', 'certifications by unknown issuers'));
  if (d.local) parts.push(plural(d.local, 'non-exportable signature', 'non-exportable signatures'));
  if (d.bad) parts.push(plural(d.bad, 'bad signature', 'bad signatures'));
  if (d.unbound) parts.push(plural(d.unbound, 'user ID or subkey without a valid self-signature', 'user IDs or subkeys without a valid self-signature'));
  if (d.other) parts.push(plural(d.other, 'secret or non-certificate packet', 'secret or non-certificate packets'));
  return parts.length > 0 ? `dropped ${parts.join(', ')}` : undefined;
}

// ---------------------------------------------------------------------------------------
// Known issuers

/** Keys whose certifications are verified and kept (see the module comment). */
export interface KnownIssuers extends IssuerKeys {
  core?: KeyPacket;
}

function knownFrom(keys: KeyPacket[], core?: KeyPacket): KnownIssuers {
  return { ...issuerKeys(keys), core };
}

/**
 * The trust core and every key reached from it through good trust signatures on user IDs,
 * up to MAX_DEPTH levels, among stored certificates (through the issuer index) and `batch`.
 * Only the core's own non-exportable signatures count among stored ones; `batch` has none.
 */
export async function knownIssuers(store: AuthStore, batch: Cert[], verifier: Verifier): Promise<KnownIssuers> {
  const coreFpr = (await store.state()).coreFpr;
  const coreCert = coreFpr ? (await store.certs.get(coreFpr))?.cert : undefined;
  if (!coreCert) return knownFrom([]);
  const core = coreCert.primary;
  const known = knownFrom([core], core);
  let frontier = knownFrom([core], core);
  for (let level = 0; level < MAX_DEPTH && frontier.byFpr.size > 0; level++) {
    const ids = [...frontier.byKeyId.keys()];
    const stored = (await store.certifiedBy(ids)).filter((r) => r.tsig && !known.byFpr.has(r.fpr)).map((r) => r.fpr);
    const candidates = [...(await store.loadCerts(stored)), ...batch.filter((c) => !known.byFpr.has(c.primary.fpr))];
    const checks: SigCheck[] = [];
    const owner: Cert[] = [];
    for (const c of candidates) {
      for (const u of c.users) {
        for (const e of u.signatures) {
          const sig = e.sig;
          if (!sig || !isCertification(sig.type) || (sig.trust?.level ?? 0) === 0) continue;
          for (const issuer of issuersIn(frontier, sig)) {
            if (!sig.exportable && issuer !== core) continue;
            checks.push({ issuer, sig, target: { kind: 'user', primary: c.primary, user: u.packet } });
            owner.push(c);
          }
        }
      }
    }
    const results = checks.length > 0 ? await verifier.verify(checks) : [];
    const next = knownFrom([]);
    results.forEach((ok, i) => {
      const key = owner[i].primary;
      if (ok && !known.byFpr.has(key.fpr)) {
        addIssuerKey(known, key);
        addIssuerKey(next, key);
      }
    });
    frontier = next;
  }
  return known;
}

// ---------------------------------------------------------------------------------------
// Trimming one certificate

interface TrimContext {
  known: KnownIssuers;
  budget: number;
  verifier: Verifier;
  /** A designated revoker's key by fingerprint, when it is at hand. */
  revoker: (fpr: string) => Promise<KeyPacket | undefined>;
}

/** Newest first; ties by packet bytes, so the order the signatures came in never matters. */
function byNewest(a: CheckedSig, b: CheckedSig): number {
  return b.created - a.created || Buffer.compare(a.entry.packet.body, b.entry.packet.body);
}

/**
 * Applies the policy to one certificate. `incoming`: it comes from outside (every local
 * signature goes, unbound components go); otherwise it is the stored certificate merged
 * with what came in (the core's own local signatures stay, components stay, so the store's
 * key and user ID indexes remain right). Returns `undefined` when nothing is dropped.
 */
async function trim(cert: Cert, ctx: TrimContext, incoming: boolean): Promise<{ cert: Cert; dropped: DroppedCounts } | undefined> {
  const dropped = none();
  const core = ctx.known.core;
  // The core's own local signatures, already stored, are the only ones that stay.
  const coreLocal = (sig: Signature | undefined) => !incoming && core !== undefined && sig !== undefined && issuedBy(sig, core);
  const checked = await checkSignatures(cert, {
    verifier: ctx.verifier,
    certifiers: (sig) => issuersIn(ctx.known, sig),
    revoker: ctx.revoker,
    localIssuer: (sig) => (coreLocal(sig) ? core : undefined),
  });
  const kept = new Set<SigEntry>();
  const pool: CheckedSig[] = [];
  for (const item of checked.sigs) {
    if (item.local && !coreLocal(item.entry.sig)) dropped.local++;
    else if (item.outcome === 'good') kept.add(item.entry);
    else if (item.outcome === 'bad') dropped.bad++;
    else pool.push(item);
  }
  // Components from outside without a good (or at least unverifiable) self-signature.
  const droppedComponents = incoming ? unboundComponents(checked) : new Set<number>();
  dropped.unbound += droppedComponents.size;

  const candidates = pool.filter((item) => !droppedComponents.has(item.component)).sort(byNewest);
  candidates.slice(0, ctx.budget).forEach((item) => {
    kept.add(item.entry);
  });
  dropped.unknownIssuers += Math.max(0, candidates.length - ctx.budget);

  const rebuilt = rebuildCert(cert, checked.components, droppedComponents, kept);
  if (!rebuilt) return undefined;
  dropped.other += rebuilt.otherDropped;
  return { cert: rebuilt.cert, dropped };
}

// ---------------------------------------------------------------------------------------
// The ingest path

/**
 * The verification cache during an ingest: the store's cache for lookups, every outcome
 * remembered in memory for this run, and only good outcomes written to the store (bad
 * ones are dropped signatures, which must not fill the store's cache either).
 */
class IngestCache implements VerificationCache {
  private readonly memory = new MemoryVerificationCache();
  constructor(private readonly store: AuthStore) {}

  async lookup(keys: Buffer[]): Promise<Map<string, boolean>> {
    const found = await this.memory.lookup(keys);
    const rest = keys.filter((k) => !found.has(k.toString('hex')));
    if (rest.length > 0) for (const [k, v] of await this.store.cache.lookup(rest)) found.set(k, v);
    return found;
  }

  async record(entries: Array<[Buffer, boolean]>): Promise<void> {
    await this.memory.record(entries);
    const good = entries.filter(([, ok]) => ok);
    if (good.length > 0 && !this.store.readonly) await this.store.cache.record(good);
  }
}

/** One ingest at a time per store: update-users fetches several user IDs at once. */
const queues = new WeakMap<AuthStore, Promise<unknown>>();

/**
 * Stores certificates from outside through the policy in the module comment; returns what
 * was stored and what was dropped. Secret certificates are stored as their public part
 * (callers that must refuse them, like gpg-cmd --import, check first).
 */
export async function ingestCerts(store: AuthStore, certs: Cert[], now: UnixTime, opts: IngestOptions = {}): Promise<IngestResult> {
  const previous = queues.get(store) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => ingestNow(store, certs, now, opts));
  queues.set(store, run);
  return run;
}

async function ingestNow(store: AuthStore, input: Cert[], now: UnixTime, opts: IngestOptions): Promise<IngestResult> {
  const budget = opts.budget ?? UNKNOWN_ISSUER_BUDGET;
  const verifier = new Verifier({ cache: new IngestCache(store) });
  const total = none();
  const droppedBy = new Map<string, DroppedCounts>();
  const counts = (fpr: string) => {
    let d = droppedBy.get(fpr);
    if (!d) {
      d = none();
      droppedBy.set(fpr, d);
    }
    return d;
  };

  // 1. Public packets only, no local signatures: what the batch can vouch for is computed from this.
  // Canonical first: a revocation sitting on a duplicate user ID or subkey must be gathered
  // onto the one that carries the self-signature before anything is trimmed.
  const stripped = input.map((c) => {
    const pub = publicOnly(canonicalCert(c));
    counts(pub.cert.primary.fpr).other += pub.converted;
    return pub.cert;
  });
  const coreFpr = (await store.state()).coreFpr ?? undefined;
  const unsigned = stripped.map((c) => withoutLocalButCore(c, counts(c.primary.fpr), coreFpr));
  const known = await knownIssuers(store, unsigned, verifier);
  const revokers = new Map<string, KeyPacket | null>();
  for (const c of unsigned) revokers.set(c.primary.fpr, c.primary);
  const ctx: TrimContext = {
    known,
    budget,
    verifier,
    revoker: async (fpr) => {
      let key = revokers.get(fpr);
      if (key === undefined) {
        const stored = (await store.loadCerts([fpr]))[0];
        key = stored?.primary ?? null;
        revokers.set(fpr, key);
      }
      return key ?? undefined;
    },
  };

  // 2. Each copy trimmed before anything expensive, then the copies of one certificate merged.
  const merged = new Map<string, Cert>();
  for (const c of unsigned) {
    const t = await trim(c, ctx, true);
    if (t) add(counts(c.primary.fpr), t.dropped);
    const cert = t?.cert ?? c;
    const prev = merged.get(cert.primary.fpr);
    merged.set(cert.primary.fpr, prev ? mergeCerts(prev, cert) : cert);
  }

  // 3. Stored, merged with the stored copy, and that cut to the same budget. A stored copy
  //    still holding a flood from before this policy is cut down on its own first, so the
  //    merge never works through the flood (mergeCerts at 2d397e3 even threw RangeError from
  //    about 125,000 signatures on one component).
  const trimStored = async (storedCert: Cert) => {
    const t = await trim(storedCert, ctx, false);
    if (t) add(counts(storedCert.primary.fpr), t.dropped);
    return t?.cert;
  };
  for (const fpr of merged.keys()) {
    // The stored bytes tell the size; parsed only when large.
    const storedCopy = await store.certs.get(fpr);
    if (storedCopy && storedCopy.bytes.length > LARGE_STORED_BYTES) await store.putCertsTrimmed([storedCopy.cert], now, trimStored);
  }
  const results = await store.putCertsTrimmed([...merged.values()], now, trimStored);
  const out: IngestedCert[] = results.map((r) => ({ fpr: r.fpr, status: r.status, cert: r.cert, dropped: counts(r.fpr) }));
  for (const r of out) add(total, r.dropped);
  return { certs: out, dropped: total };
}

/**
 * The certificate without its non-exportable signatures, all of them. Those are counted, except the trust
 * core's: refresh-keys hands back the stored copy merged with the keyserver's, so the core's
 * own local signatures come along (and stay stored).
 */
function withoutLocalButCore(cert: Cert, dropped: DroppedCounts, coreFpr: string | undefined): Cert {
  const byCore = (sig: Signature) => coreFpr !== undefined && (sig.issuerFingerprints.length > 0 ? sig.issuerFingerprints.includes(coreFpr) : sig.issuerKeyIds.includes(keyIdOf(coreFpr)));
  let byCoreCount = 0;
  for (const list of [cert.directSigs, ...cert.users.map((u) => u.signatures), ...cert.subkeys.map((s) => s.signatures)]) {
    for (const e of list) if (e.sig && !e.sig.exportable && byCore(e.sig)) byCoreCount++;
  }
  const r = withoutLocal(cert);
  dropped.local += r.dropped - byCoreCount;
  return r.cert;
}
