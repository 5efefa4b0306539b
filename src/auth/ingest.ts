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
import { HASH_NAMES } from '../openpgp/algorithms.js';
import { readCerts } from '../openpgp/cert.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { canonicalCert, mergeCerts } from '../openpgp/merge.js';
import { encodePacket, type Packet, Tag } from '../openpgp/packets.js';
import type { SigTarget } from '../openpgp/signed-data.js';
import { type Signature, SigType } from '../openpgp/signature.js';
import { verificationKey } from '../openpgp/verify.js';
import type { PutStatus } from '../store/types.js';
import { MemoryVerificationCache, type VerificationCache } from '../verify/cache.js';
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
export interface KnownIssuers {
  byFpr: Map<string, KeyPacket>;
  byKeyId: Map<string, KeyPacket[]>;
  core?: KeyPacket;
}

function knownFrom(keys: KeyPacket[], core?: KeyPacket): KnownIssuers {
  const k: KnownIssuers = { byFpr: new Map(), byKeyId: new Map(), core };
  for (const key of keys) addKnown(k, key);
  return k;
}

function addKnown(k: KnownIssuers, key: KeyPacket): void {
  if (k.byFpr.has(key.fpr)) return;
  k.byFpr.set(key.fpr, key);
  const id = keyIdOf(key.fpr);
  k.byKeyId.set(id, [...(k.byKeyId.get(id) ?? []), key]);
}

/** The keys `sig` names as its issuer, among `k`: by fingerprint when it gives one (as evaluate.ts issuedBy), else by key ID. */
function issuersIn(k: KnownIssuers, sig: Signature): KeyPacket[] {
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

function issuedBy(sig: Signature, key: KeyPacket): boolean {
  if (sig.issuerFingerprints.length > 0) return sig.issuerFingerprints.includes(key.fpr);
  return sig.issuerKeyIds.includes(key.keyId);
}

const isCertification = (t: number) => t >= SigType.GenericCert && t <= SigType.PositiveCert;

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
        addKnown(known, key);
        addKnown(next, key);
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

interface Item {
  entry: SigEntry;
  /** Index of the component in `components`. */
  component: number;
  created: number;
}

interface Component {
  packet?: Packet;
  kind: 'key' | 'user' | 'subkey';
  signatures: SigEntry[];
  target: SigTarget;
}

/** Whether node:crypto can verify with this key (cached per fingerprint). */
const usableKeys = new Map<string, boolean>();
function canVerifyWith(key: KeyPacket): boolean {
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

/** Newest first; ties by packet bytes, so the order the signatures came in never matters. */
function byNewest(a: Item, b: Item): number {
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
  const primary = cert.primary;
  const components: Component[] = [
    { kind: 'key', signatures: cert.directSigs, target: { kind: 'key', primary } },
    ...cert.users.map((u): Component => ({ packet: u.packet, kind: 'user', signatures: u.signatures, target: { kind: 'user', primary, user: u.packet } })),
    ...cert.subkeys.map((s): Component => ({ packet: s.key.packet, kind: 'subkey', signatures: s.signatures, target: { kind: 'subkey', primary, subkey: s.key } })),
  ];
  // Designated revokers, as direct-key self-signatures name them (a forged one is dropped below; its revoker is then merely looked up).
  const revokers = new Set<string>();
  for (const e of cert.directSigs) if (e.sig?.type === SigType.DirectKey && issuedBy(e.sig, primary)) for (const rk of e.sig.revocationKeys) revokers.add(rk.fingerprint);
  const revokerKeys = new Map<string, KeyPacket | undefined>();
  for (const f of revokers) revokerKeys.set(f, await ctx.revoker(f));

  const kept = new Set<SigEntry>();
  const pool: Item[] = [];
  const toVerify: Array<{ item: Item; issuers: KeyPacket[]; self: boolean }> = [];
  components.forEach((comp, ci) => {
    for (const entry of comp.signatures) {
      const sig = entry.sig;
      const item: Item = { entry, component: ci, created: sig?.created ?? -1 };
      if (!sig) {
        pool.push(item);
        continue;
      }
      if (!sig.exportable) {
        // The core's own local signatures, already stored, are the only ones that stay.
        const core = ctx.known.core;
        if (incoming || !core || !issuedBy(sig, core)) dropped.local++;
        else toVerify.push({ item, issuers: [core], self: false });
        continue;
      }
      if (issuedBy(sig, primary)) {
        toVerify.push({ item, issuers: [primary], self: true });
        continue;
      }
      let issuers: KeyPacket[] = [];
      if (comp.kind === 'user' && (isCertification(sig.type) || sig.type === SigType.CertRevocation)) issuers = issuersIn(ctx.known, sig);
      else if (comp.kind === 'key' && sig.type === SigType.KeyRevocation) {
        for (const f of sig.issuerFingerprints.length > 0 ? sig.issuerFingerprints : [...revokers].filter((r) => sig.issuerKeyIds.includes(keyIdOf(r)))) {
          const key = revokerKeys.get(f);
          if (key) issuers.push(key);
        }
      }
      if (issuers.length > 0) toVerify.push({ item, issuers, self: false });
      else pool.push(item);
    }
  });

  // Verify what can count; what nothing here can verify (an unsupported algorithm) joins the pool.
  const checks: SigCheck[] = [];
  const checkOwner: number[] = [];
  toVerify.forEach((v, i) => {
    const sig = v.item.entry.sig!;
    const usable = HASH_NAMES[sig.hashAlgorithm] ? v.issuers.filter(canVerifyWith) : [];
    if (usable.length === 0) {
      pool.push(v.item);
      return;
    }
    for (const issuer of usable) {
      checks.push({ issuer, sig, target: components[v.item.component].target });
      checkOwner.push(i);
    }
  });
  const results = checks.length > 0 ? await ctx.verifier.verify(checks) : [];
  const checked = new Set<number>(checkOwner);
  const good = new Set<number>();
  results.forEach((ok, j) => {
    if (ok) good.add(checkOwner[j]);
  });
  const boundBy = new Set<number>();
  const maybeBound = new Set<number>();
  toVerify.forEach((v, i) => {
    if (good.has(i)) {
      kept.add(v.item.entry);
      if (v.self) boundBy.add(v.item.component);
    } else if (checked.has(i)) dropped.bad++;
    else if (v.self) maybeBound.add(v.item.component);
  });

  // Components from outside without a good (or at least unverifiable) self-signature.
  const droppedComponents = new Set<number>();
  if (incoming) {
    components.forEach((comp, ci) => {
      if (comp.kind !== 'key' && !boundBy.has(ci) && !maybeBound.has(ci)) {
        droppedComponents.add(ci);
        dropped.unbound++;
      }
    });
  }

  const candidates = pool.filter((item) => !droppedComponents.has(item.component)).sort(byNewest);
  candidates.slice(0, ctx.budget).forEach((item) => {
    kept.add(item.entry);
  });
  dropped.unknownIssuers += Math.max(0, candidates.length - ctx.budget);

  // The certificate without what was dropped, packets in their order.
  const keep = new Set<Packet>([primary.packet]);
  components.forEach((comp, ci) => {
    if (droppedComponents.has(ci)) return;
    if (comp.packet) keep.add(comp.packet);
    for (const e of comp.signatures) if (kept.has(e)) keep.add(e.packet);
  });
  const packets = cert.packets.filter((p) => keep.has(p));
  const componentPackets = new Set(components.map((c) => c.packet));
  dropped.other += cert.packets.filter((p) => !keep.has(p) && p.tag !== Tag.Signature && !componentPackets.has(p)).length;
  if (packets.length === cert.packets.length) return undefined;
  const keepSigs = (list: SigEntry[]) => list.filter((e) => kept.has(e));
  const result: Cert = {
    primary,
    directSigs: keepSigs(cert.directSigs),
    users: cert.users.filter((_, i) => !droppedComponents.has(1 + i)).map((u) => ({ ...u, signatures: keepSigs(u.signatures) })),
    subkeys: cert.subkeys.filter((_, i) => !droppedComponents.has(1 + cert.users.length + i)).map((s) => ({ ...s, signatures: keepSigs(s.signatures) })),
    secret: false,
    packets,
  };
  return { cert: result, dropped };
}

/** The public certificate of a secret one: each secret key packet replaced by its public part. */
function publicOnly(cert: Cert): { cert: Cert; converted: number } {
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
  const unsigned = stripped.map((c) => withoutLocal(c, counts(c.primary.fpr), coreFpr));
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
 * The certificate without its non-exportable signatures, without parsing again. Those are
 * counted, except the trust core's: refresh-keys hands back the stored copy merged with the
 * keyserver's, so the core's own local signatures come along (and stay stored).
 */
function withoutLocal(cert: Cert, dropped: DroppedCounts, coreFpr: string | undefined): Cert {
  const local = new Set<SigEntry>();
  const byCore = (sig: Signature) => coreFpr !== undefined && (sig.issuerFingerprints.length > 0 ? sig.issuerFingerprints.includes(coreFpr) : sig.issuerKeyIds.includes(keyIdOf(coreFpr)));
  for (const list of [cert.directSigs, ...cert.users.map((u) => u.signatures), ...cert.subkeys.map((s) => s.signatures)]) {
    for (const e of list) {
      if (!e.sig || e.sig.exportable) continue;
      local.add(e);
      if (!byCore(e.sig)) dropped.local++;
    }
  }
  if (local.size === 0) return cert;
  const packets = new Set<Packet>([...local].map((e) => e.packet));
  const keep = (list: SigEntry[]) => list.filter((e) => !local.has(e));
  return {
    ...cert,
    directSigs: keep(cert.directSigs),
    users: cert.users.map((u) => ({ ...u, signatures: keep(u.signatures) })),
    subkeys: cert.subkeys.map((s) => ({ ...s, signatures: keep(s.signatures) })),
    packets: cert.packets.filter((p) => !packets.has(p)),
  };
}
