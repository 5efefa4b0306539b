/**
 * The keyserver's service: uploads through the ingest policy (ingest.ts), held-aside
 * certifications released when their issuer arrives, upload rate limits, takedowns and the
 * blocklist. Reads (HKP lookups) go straight to `store`: the stored bytes are what is served.
 * One write at a time per Keyserver (a queue), and compare-and-swap against the store, so
 * several servers on one PostgreSQL never lose each other's writes.
 * Not here: HTTP (src/hkp/), bulk import and dump (bulk.ts).
 */
import type { UnixTime } from '../clock.js';
import { MsError, TemporaryError } from '../errors.js';
import { dearmor } from '../openpgp/armor.js';
import { type Cert, readCerts } from '../openpgp/cert.js';
import { asFingerprint, type Fingerprint, parseFingerprint } from '../openpgp/fingerprint.js';
import { mergeCerts } from '../openpgp/merge.js';
import { framePackets, type Packet, Tag } from '../openpgp/packets.js';
import { parseSignature, type Signature, SigType } from '../openpgp/signature.js';
import type { HeldCertification, PutResult, Store, StoredCert } from '../store/types.js';
import { MemoryVerificationCache, type VerificationCache } from '../verify/cache.js';
import type { IssuerKeys } from '../verify/sanitize.js';
import { Verifier } from '../verify/verifier.js';
import { rateLimited, tooLarge, unparseable } from './errors.js';
import { applyPolicy, cleanIncoming, DEFAULT_POLICY, type IngestPolicy, Reason, yieldToLoop } from './ingest.js';
import { Summaries } from './summary.js';
import { LocalUploadWindows, type UploadWindows } from './upload-windows.js';

export { DEFAULT_POLICY, type IngestPolicy } from './ingest.js';

export interface SubmitOptions {
  now: UnixTime;
  /** The client's address, for per-client limits; none: no per-client limit (bulk import, tests). */
  client?: string;
}

export interface CertOutcome {
  /** Upper-case hex primary fingerprint. */
  fpr: Fingerprint;
  /**
   * inserted, updated, unchanged: what the store did; blocked: on the blocklist, nothing stored;
   * rate-limited: this certificate changed too often lately, so others' new certifications in
   * the upload were not taken (`dropped`), and nothing else was new; rejected: nothing
   * of it can be served (no user ID or subkey with a good self-signature, no revocation).
   */
  status: 'inserted' | 'updated' | 'unchanged' | 'blocked' | 'rate-limited' | 'rejected';
  /** User IDs of the stored result (for the upload report). */
  userIds: string[];
  /** What the submission added to the stored certificate. */
  kept: { userIds: number; subkeys: number; certifications: number };
  /** Third-party certifications held aside (issuer unknown), not served. */
  held: number;
  /** Held certifications elsewhere that this key's arrival verified and published. */
  released: number;
  /** Reason in words -> count (see ingest.ts `Reason`). */
  dropped: Record<string, number>;
  /** With `rate-limited`: seconds until the certificate's update window has room again. */
  retryAfter?: number;
}

export interface SubmitReport {
  certs: CertOutcome[];
}

export interface BlockEntry {
  fpr: Fingerprint;
  reason: string;
  since: UnixTime;
}

const BLOCKLIST_META = 'keyserver.blocklist';

/**
 * The verification cache during a submission: the store's cache for lookups, every outcome
 * remembered in memory for this run, only good outcomes written to the store (bad ones are
 * dropped signatures, which must not fill the shared cache).
 */
export class SubmitCache implements VerificationCache {
  private readonly memory = new MemoryVerificationCache();
  constructor(private readonly store: Store) {}

  /** Outcomes verified elsewhere (bulk import's worker threads), answered from memory and not written again. */
  async preload(entries: Array<[Buffer, boolean]>): Promise<void> {
    await this.memory.record(entries);
  }

  async lookup(keys: Buffer[]): Promise<Map<string, boolean>> {
    const found = await this.memory.lookup(keys);
    const rest = keys.filter((k) => !found.has(k.toString('hex')));
    if (rest.length > 0) for (const [k, v] of await this.store.verifications.lookup(rest)) found.set(k, v);
    return found;
  }

  /** Keep good outcomes in memory until `flush` (bulk import: one write per batch, not one per certificate). */
  deferWrites = false;
  private pending: Array<[Buffer, boolean]> = [];

  async record(entries: Array<[Buffer, boolean]>): Promise<void> {
    await this.memory.record(entries);
    const good = entries.filter(([, ok]) => ok);
    if (this.deferWrites) {
      for (const g of good) this.pending.push(g);
      return;
    }
    if (good.length > 0 && !this.store.readonly) await this.store.verifications.record(good);
  }

  async flush(): Promise<void> {
    const good = this.pending;
    this.pending = [];
    if (good.length > 0 && !this.store.readonly) await this.store.verifications.record(good);
  }
}

const componentKey = (p: Packet) => `${p.tag}:${p.body.toString('latin1')}`;

/** What `after` has that `before` lacks: user IDs, subkeys, signatures on user IDs by other keys. */
function added(before: Cert | undefined, after: Cert): CertOutcome['kept'] {
  const users = new Set(before?.users.map((u) => componentKey(u.packet)) ?? []);
  const subkeys = new Set(before?.subkeys.map((s) => s.key.fpr) ?? []);
  const sigs = new Set(before?.users.flatMap((u) => u.signatures.map((e) => e.packet.body.toString('latin1'))) ?? []);
  let certifications = 0;
  for (const u of after.users) {
    for (const e of u.signatures) {
      if (e.sig && !e.sig.issuerKeyIds.includes(after.primary.keyId) && !sigs.has(e.packet.body.toString('latin1'))) certifications++;
    }
  }
  return {
    userIds: after.users.filter((u) => !users.has(componentKey(u.packet))).length,
    subkeys: after.subkeys.filter((s) => !subkeys.has(s.key.fpr)).length,
    certifications,
  };
}

/** What one certificate of an upload becomes, before it is written. */
interface Plan {
  incoming: Cert;
  stored?: StoredCert;
  before?: Cert;
  cert: Cert;
  held: HeldCertification[];
  dropped: Record<string, number>;
  outcome: CertOutcome;
  written?: PutResult;
}

const newOutcome = (fpr: Fingerprint): CertOutcome => ({ fpr, status: 'unchanged', userIds: [], kept: { userIds: 0, subkeys: 0, certifications: 0 }, held: 0, released: 0, dropped: {} });

const userIdsOf = (cert: Cert | undefined) => cert?.users.filter((u) => u.kind === 'userid').map((u) => u.text) ?? [];

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

export class Keyserver {
  /** Index summaries, noted on each certificate as it is stored (summary.ts). */
  readonly summaries: Summaries;
  private queue: Promise<unknown> = Promise.resolve();
  /** What the current write stored, by fingerprint: the last write of each is noted at its end. */
  private readonly written = new Map<string, PutResult>();
  /** Uploads per client and changes per certificate (the policy's windows). */
  readonly windows: UploadWindows;

  private constructor(
    readonly store: Store,
    readonly policy: Readonly<IngestPolicy>,
    windows: UploadWindows | undefined,
  ) {
    this.windows = windows ?? new LocalUploadWindows(policy);
    this.summaries = new Summaries(store);
  }

  /**
   * A keyserver on `store` (which it does not close) with the default policy, overridden by
   * `policy`; its upload windows in this process's memory unless `windows` are given.
   */
  static async open(store: Store, policy: Partial<IngestPolicy> = {}, opts: { windows?: UploadWindows } = {}): Promise<Keyserver> {
    return new Keyserver(store, Object.freeze({ ...DEFAULT_POLICY, ...policy }), opts.windows);
  }

  /** Runs `fn` after every earlier write of this keyserver, then notes the summaries of what it stored. */
  private serial<T>(fn: () => Promise<T>, now?: UnixTime): Promise<T> {
    const run = this.queue
      .catch(() => undefined)
      .then(async () => {
        this.written.clear();
        try {
          return await fn();
        } finally {
          if (now !== undefined) await this.summaries.note([...this.written.values()], now);
          this.written.clear();
        }
      });
    this.queue = run;
    return run;
  }

  /** Remembers what a write stored (see `serial`). */
  private wrote<T extends PutResult | undefined>(result: T): T {
    if (result && result.status !== 'unchanged') this.written.set(result.fpr, result);
    return result;
  }

  /**
   * Takes an upload: armored or binary, one or many certificates, or bare key and subkey
   * revocation signatures of stored keys; each certificate goes through the ingest policy and
   * is merged into the stored copy.
   * @throws InputError (MS_KS_TOO_LARGE) over maxUploadBytes, maxUploadCerts or a packet size cap;
   *         InputError (MS_KS_UNPARSEABLE) when it holds no certificate and no revocation of a stored key;
   *         TemporaryError (MS_KS_RATE_LIMITED) when `client` uploaded too often.
   */
  async submit(input: Buffer, opts: SubmitOptions): Promise<SubmitReport> {
    const p = this.policy;
    if (input.length > p.maxUploadBytes) throw tooLarge(`upload of ${input.length} bytes is over the limit of ${p.maxUploadBytes}`, { size: input.length, limit: p.maxUploadBytes });
    if (opts.client !== undefined) {
      const wait = await this.windows.takeClient(opts.client, opts.now);
      if (wait > 0) throw rateLimited(`too many uploads from ${opts.client}`, wait, { client: opts.client });
    }
    let bytes: Buffer;
    try {
      bytes = dearmor(input);
    } catch (err) {
      throw unparseable(`the upload is not OpenPGP: ${(err as Error).message}`, err);
    }
    const big = bytes.length > 1024 * 1024;
    if (big) await yieldToLoop();
    const bare = this.checkPackets(bytes);
    if (big) await yieldToLoop();
    const { certs } = readCerts(bytes);
    if (big) await yieldToLoop();
    if (certs.length > p.maxUploadCerts) throw tooLarge(`upload of ${certs.length} certificates is over the limit of ${p.maxUploadCerts}`, { certs: certs.length, limit: p.maxUploadCerts });
    return this.serial(async () => {
      const fromRevocations = bare.length > 0 ? await this.revocationFragments(bare) : [];
      if (certs.length === 0 && fromRevocations.length === 0) throw unparseable(bare.length > 0 ? 'the upload revokes no key this server has' : 'the upload holds no certificate');
      // Copies of one certificate merged, in the order first given.
      const byFpr = new Map<string, Cert>();
      for (const c of [...certs, ...fromRevocations]) {
        const prev = byFpr.get(c.primary.fpr);
        byFpr.set(c.primary.fpr, prev ? mergeCerts(prev, c) : c);
      }
      const out: CertOutcome[] = [];
      const verifier = new Verifier({ cache: new SubmitCache(this.store) });
      await this.refreshBlocked();
      for (const cert of byFpr.values()) out.push(await this.ingestOne(cert, opts.now, verifier));
      return { certs: out };
    }, opts.now);
  }

  /**
   * Certificates already read (bulk loading, bulk.ts) through the same policy, in order, after
   * every earlier write. `cache`: outcomes verified elsewhere and this run's memory of them;
   * `issuers`: keys of the rest of the file being loaded, counted as held (it will be).
   */
  async ingestCerts(certs: readonly Cert[], opts: { now: UnixTime; cache?: SubmitCache; issuers?: IssuerKeys }): Promise<CertOutcome[]> {
    return this.serial(async () => {
      const cache = opts.cache ?? new SubmitCache(this.store);
      cache.deferWrites = true;
      const verifier = new Verifier({ cache });
      await this.refreshBlocked();
      // Copies of one certificate merged, so each is planned against the store once.
      const byFpr = new Map<string, Cert>();
      for (const c of certs) {
        const prev = byFpr.get(c.primary.fpr);
        byFpr.set(c.primary.fpr, prev ? mergeCerts(prev, c) : c);
      }
      const fprs = [...byFpr.keys()];
      const storedNow = new Map((await this.store.certs.getMany(fprs)).map((s) => [s.fpr as string, s]));
      const out = new Map<string, CertOutcome>();
      const plans: Plan[] = [];
      for (const cert of byFpr.values()) {
        const fpr = asFingerprint(cert.primary.fpr);
        const outcome = newOutcome(fpr);
        out.set(fpr, outcome);
        if (this.blockedNow?.has(fpr)) {
          outcome.status = 'blocked';
          continue;
        }
        const plan = await this.plan(cert, storedNow.get(fpr), outcome, opts.now, verifier, { extraIssuers: opts.issuers });
        if (plan) plans.push(plan);
      }
      // New certificates in one transaction; stored ones replaced one by one (compare and swap).
      const fresh = plans.filter((p) => !p.stored);
      const put = fresh.length > 0 ? await this.store.certs.putMany(fresh.map((p) => p.cert), opts.now) : [];
      fresh.forEach((p, i) => {
        p.written = this.wrote(put[i]);
      });
      for (const p of plans) if (p.stored) p.written = this.wrote(await this.store.certs.replace(p.outcome.fpr, p.stored.bytes, p.cert, opts.now));
      await cache.flush();
      for (const p of plans) {
        if (!p.written) {
          // Changed meanwhile (another server): this one goes the careful way.
          out.set(p.outcome.fpr, await this.ingestOne(p.incoming, opts.now, verifier, opts.issuers, false));
          continue;
        }
        await this.finish(p, p.written, opts.now, verifier, false);
      }
      await cache.flush();
      return [...byFpr.keys()].map((f) => out.get(f)!);
    }, opts.now);
  }

  /**
   * Frames every packet, refusing the upload when one is over its size cap; returns the
   * signatures that come before the first key (bare revocations).
   */
  private checkPackets(bytes: Buffer): Signature[] {
    const bare: Signature[] = [];
    let inCert = false;
    try {
      for (const { packet } of framePackets(bytes)) {
        const limit = packet.tag === Tag.UserAttribute ? this.policy.maxAttributeBytes : this.policy.maxPacketBytes;
        if (packet.body.length > limit) {
          throw tooLarge(`a packet (tag ${packet.tag}) of ${packet.body.length} bytes is over the limit of ${limit}`, { tag: packet.tag, size: packet.body.length, limit });
        }
        if (packet.tag === Tag.PublicKey || packet.tag === Tag.SecretKey) inCert = true;
        else if (!inCert && packet.tag === Tag.Signature) {
          try {
            bare.push(parseSignature(packet));
          } catch {
            // An unparseable bare signature revokes nothing.
          }
        }
      }
    } catch (err) {
      if (err instanceof MsError && err.code === 'MS_KS_TOO_LARGE') throw err;
      // A framing error: readCerts keeps what came before it.
    }
    return bare;
  }

  /**
   * Certificates made of a stored primary key (and subkey) and a bare revocation of it, to be
   * merged like any upload: the policy verifies the revocation. Key revocations (0x20) and
   * subkey revocations (0x28) by the key itself; a subkey revocation is paired with each stored
   * subkey (the policy keeps it only on the one it verifies on).
   */
  private async revocationFragments(sigs: Signature[]): Promise<Cert[]> {
    const out: Cert[] = [];
    for (const sig of sigs) {
      if (sig.type !== SigType.KeyRevocation && sig.type !== SigType.SubkeyRevocation) continue;
      const ids = [...new Set([...sig.issuerKeyIds, ...sig.issuerFingerprints.map((f) => f.slice(-16))])];
      const pairs = await this.store.certs.primariesByKeyId(ids);
      for (const s of await this.store.certs.getMany([...new Set(pairs.map((p) => p.fpr))])) {
        const cert = s.cert;
        const parts = sig.type === SigType.KeyRevocation ? [[cert.primary.packet.raw, sig.packet.raw]] : cert.subkeys.map((sub) => [cert.primary.packet.raw, sub.key.packet.raw, sig.packet.raw]);
        for (const p of parts) out.push(...readCerts(Buffer.concat(p)).certs);
      }
    }
    return out;
  }

  /** The blocklist as read at the start of the current write (reads one meta row, not one per certificate). */
  private blockedNow: Set<string> | undefined;

  private async refreshBlocked(): Promise<void> {
    this.blockedNow = new Set((await this.blocklist()).map((b) => b.fpr));
  }

  /**
   * What to store of `incoming`, merged with its stored copy, through the policy; undefined
   * (with the outcome's status set) when nothing is to be stored.
   */
  private async plan(
    incoming: Cert,
    stored: StoredCert | undefined,
    outcome: CertOutcome,
    now: UnixTime,
    verifier: Verifier,
    opts: { extraIssuers?: IssuerKeys; overWindow?: boolean } = {},
  ): Promise<Plan | undefined> {
    const dropped: Record<string, number> = {};
    const big = incoming.packets.length > 10_000;
    const clean = cleanIncoming(incoming, dropped);
    if (big) await yieldToLoop();
    const before = stored?.cert;
    const merged = before ? mergeCerts(before, clean) : clean;
    if (big && before) await yieldToLoop();
    const result = await applyPolicy(this.store, merged, this.policy, verifier, now, { ...opts, stored: before });
    addCounts(dropped, result.dropped);
    if (!result.cert) {
      addCounts(outcome.dropped, dropped);
      outcome.status = 'rejected';
      outcome.userIds = userIdsOf(before);
      return undefined;
    }
    return { incoming, stored, before, cert: result.cert, held: result.held, dropped, outcome };
  }

  /** After a plan was written: the outcome, held certifications, the rate counter, and what this key releases. */
  private async finish(p: Plan, written: PutResult, now: UnixTime, verifier: Verifier, rateLimited: boolean): Promise<void> {
    const outcome = p.outcome;
    addCounts(outcome.dropped, p.dropped);
    outcome.status = written.status;
    outcome.userIds = userIdsOf(written.cert);
    outcome.kept = added(p.before, written.cert);
    if (p.held.length > 0) outcome.held = await this.store.held.hold(p.held, this.policy.maxHeld);
    if (written.status !== 'unchanged') {
      if (rateLimited) await this.windows.certChanged(outcome.fpr, now);
      outcome.released = await this.release(written.cert, now, verifier, rateLimited);
    }
  }

  /** One certificate through the policy into the store, then what its arrival releases. */
  private async ingestOne(incoming: Cert, now: UnixTime, verifier: Verifier, extraIssuers?: IssuerKeys, rateLimited = true): Promise<CertOutcome> {
    const fpr = asFingerprint(incoming.primary.fpr);
    const outcome = newOutcome(fpr);
    if (this.blockedNow?.has(fpr)) return { ...outcome, status: 'blocked' };
    // Over its update window others cannot change a certificate, but its owner still can: others'
    // uploads filling the window must not hold back a revocation or new self-signatures.
    const wait = rateLimited ? await this.windows.certWait(fpr, now) : 0;
    const overWindow = wait > 0;
    for (let attempt = 0; ; attempt++) {
      const stored = await this.store.certs.get(fpr);
      const attemptOutcome = newOutcome(fpr);
      const p = await this.plan(incoming, stored, attemptOutcome, now, verifier, { extraIssuers, overWindow });
      if (!p) return attemptOutcome;
      const written = this.wrote(stored ? await this.store.certs.replace(fpr, stored.bytes, p.cert, now) : await this.store.certs.put(p.cert, now));
      if (!written) {
        if (attempt < 3) continue;
        throw new TemporaryError('MS_KS_CONTENDED', `certificate ${fpr} kept changing while it was being stored`);
      }
      await this.finish(p, written, now, verifier, rateLimited);
      if (written.status === 'unchanged' && (attemptOutcome.dropped[Reason.rateLimited] ?? 0) > 0) {
        attemptOutcome.status = 'rate-limited';
        attemptOutcome.retryAfter = wait;
      }
      return attemptOutcome;
    }
  }

  /**
   * Certifications held on other certificates that `issuer`'s key can now verify: each target is
   * run through the policy again with them, and those it then serves are no longer held.
   * Returns how many were released.
   */
  private async release(issuer: Cert, now: UnixTime, verifier: Verifier, rateLimited: boolean): Promise<number> {
    const held = await this.store.held.byIssuer([issuer.primary.keyId]);
    if (held.length === 0) return 0;
    const byTarget = new Map<string, HeldCertification[]>();
    for (const h of held) byTarget.set(h.target, [...(byTarget.get(h.target) ?? []), h]);
    let released = 0;
    for (const [target, items] of byTarget) {
      if (target === issuer.primary.fpr) continue;
      // Releasing changes the target: over its update window they stay held (released when the issuer's certificate next changes).
      if (rateLimited && (await this.windows.certWait(target, now)) > 0) continue;
      for (let attempt = 0; attempt < 3; attempt++) {
        const stored = await this.store.certs.get(target);
        if (!stored) break;
        const parts = [stored.cert.primary.packet.raw, ...items.flatMap((h) => [h.component, h.sig])];
        const [fragment] = readCerts(Buffer.concat(parts)).certs;
        if (!fragment) break;
        const result = await applyPolicy(this.store, mergeCerts(stored.cert, fragment), this.policy, verifier, now, { stored: stored.cert });
        if (!result.cert) break;
        const served = new Set(result.cert.packets.map((p) => p.raw.toString('latin1')));
        const done = items.filter((h) => served.has(h.sig.toString('latin1')));
        if (done.length === 0) break;
        const written = this.wrote(await this.store.certs.replace(target, stored.bytes, result.cert, now));
        if (!written) continue;
        if (rateLimited && written.status !== 'unchanged') await this.windows.certChanged(target, now);
        released += await this.store.held.remove(done.map((h) => ({ target: h.target, sig: h.sig })));
        break;
      }
    }
    return released;
  }

  /**
   * Removes a certificate (and what is held on it); with `block`, also puts it on the blocklist
   * so later uploads cannot bring it back. True when it was stored.
   * @throws InputError (MS_PGP_FINGERPRINT) when `fpr` is not a whole fingerprint.
   */
  async delete(fpr: string, opts: { now: UnixTime; block?: boolean; reason?: string }): Promise<boolean> {
    const f = parseFingerprint(fpr);
    return this.serial(async () => {
      if (opts.block) await this.addBlock(f, opts.reason, opts.now);
      await this.store.held.removeTarget(f);
      return this.store.certs.delete(f, opts.now);
    });
  }

  /**
   * Puts `fpr` on the blocklist and removes what is stored of it: later uploads of it are
   * answered `blocked` and store nothing.
   * @throws InputError (MS_PGP_FINGERPRINT) when `fpr` is not a whole fingerprint.
   */
  async block(fpr: string, reason: string, now: UnixTime): Promise<void> {
    const f = parseFingerprint(fpr);
    await this.serial(async () => {
      await this.addBlock(f, reason, now);
      await this.store.held.removeTarget(f);
      await this.store.certs.delete(f, now);
    });
  }

  /**
   * Adds or updates a blocklist entry. A key blocked again keeps the time it was first blocked,
   * and its reason unless a new one is given (a repeated `delete --block` erases nothing).
   */
  private async addBlock(fpr: Fingerprint, reason: string | undefined, now: UnixTime): Promise<void> {
    const list = await this.blocklist();
    const old = list.find((b) => b.fpr === fpr);
    if (old && reason === undefined) return;
    const rest = list.filter((b) => b.fpr !== fpr);
    rest.push({ fpr, reason: reason ?? 'deleted', since: old?.since ?? now });
    await this.writeBlocklist(rest);
  }

  /** Takes `fpr` off the blocklist; true when it was on it. Nothing comes back until uploaded again. */
  async unblock(fpr: string, _now: UnixTime): Promise<boolean> {
    const f = parseFingerprint(fpr);
    return this.serial(async () => {
      const list = await this.blocklist();
      const rest = list.filter((b) => b.fpr !== f);
      if (rest.length === list.length) return false;
      await this.writeBlocklist(rest);
      return true;
    });
  }

  /** The blocklist, by fingerprint. */
  async blocklist(): Promise<BlockEntry[]> {
    const raw = await this.store.meta.getMeta(BLOCKLIST_META);
    if (!raw) return [];
    const list = JSON.parse(raw) as BlockEntry[];
    return list.map((b) => ({ fpr: asFingerprint(b.fpr), reason: String(b.reason), since: Number(b.since) }));
  }

  private async writeBlocklist(list: BlockEntry[]): Promise<void> {
    list.sort((a, b) => (a.fpr < b.fpr ? -1 : a.fpr > b.fpr ? 1 : 0));
    await this.store.meta.setMeta(BLOCKLIST_META, JSON.stringify(list));
  }
}
