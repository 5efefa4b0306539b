/**
 * What follows a recon session: the digests it found missing here are fetched from the peer's
 * HKP port by hashquery, in batches, and each certificate goes through the keyserver's upload
 * path (`Keyserver.submit`: the same verification, flood budget and per-certificate rate as an
 * upload). A digest that does not end up stored as such (trimmed, rejected, blocked, not sent)
 * is remembered as refused (recon-refused.ts) and not asked for again until it expires.
 * Each hashquery first reserves its answer's byte cap from a budget all recoveries share
 * (`FetchBudget`), so however many sessions end at once, the answers buffered at a time stay
 * under one bound; a recovery waits for its turn instead.
 */
import type { UnixTime } from '../clock.js';
import { errorMessage, MsError } from '../errors.js';
import { sksDigest } from '../openpgp/sks-digest.js';
import type { Keyserver } from './keyserver.js';
import { DEFAULT_HASHQUERY_MAX_BYTES, fetchByHashes, type HashqueryOptions } from './hashquery-client.js';
import type { Refusal, RefusalReason, RefusedDigests } from './recon-refused.js';

/**
 * Bytes shared by the fetches in flight: each reserves what its answer may take (the hashquery
 * byte cap) and gives it back once the batch is ingested; reservations are served in order.
 */
export class FetchBudget {
  private used = 0;
  private readonly queue: { bytes: number; go: () => void }[] = [];

  constructor(readonly total: number) {
    if (!(total > 0)) throw new RangeError('a fetch budget is a positive number of bytes');
  }

  /** Bytes reserved now. */
  get inUse(): number {
    return this.used;
  }

  /** Reservations waiting. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Waits until `bytes` (at most the total) are free and reserves them; returns the release. */
  async reserve(bytes: number): Promise<() => void> {
    const n = Math.min(Math.max(1, bytes), this.total);
    // A waiter's bytes are counted by next() when its turn comes, so nothing overtakes it.
    if (this.queue.length > 0 || this.used + n > this.total) await new Promise<void>((go) => this.queue.push({ bytes: n, go }));
    else this.used += n;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= n;
      this.next();
    };
  }

  private next(): void {
    while (this.queue.length > 0 && this.used + this.queue[0].bytes <= this.total) {
      const w = this.queue.shift()!;
      this.used += w.bytes;
      w.go();
    }
  }
}

export interface RecoverLimits {
  /** Digests per hashquery (SKS `http_fetch_size`: 100). */
  batch?: number;
  /** Most bytes of certificates fetched in one recovery (default 256 MiB); the rest waits for the next session. */
  maxBytes?: number;
  /** Per hashquery: byte cap of the answer, largest certificate, deadline. */
  hashquery?: HashqueryOptions;
}

export interface RecoverReport {
  /** Digests asked for. */
  asked: number;
  /** Skipped: refused before and not expired. */
  skipped: number;
  /** Skipped: already stored (the tree had not caught up). */
  present: number;
  /** Certificates the peer sent that changed our store (inserted or updated). */
  stored: number;
  /** Sent, taken, but our copy was already the same (a digest now stored through another path). */
  unchanged: number;
  /** Newly remembered refusals, by reason. */
  refused: Record<string, number>;
  /** Bytes of certificates received. */
  bytes: number;
  /** Whether a cap (bytes) or an error stopped the fetch early. */
  partial: boolean;
  /** The error that stopped it, if any. */
  error?: unknown;
}

type Ingest = Pick<Keyserver, 'store' | 'submit'>;

/** The reason to remember for a submission that threw. */
function reasonOfError(err: unknown): RefusalReason | undefined {
  if (!(err instanceof MsError)) return undefined;
  if (err.code === 'MS_KS_TOO_LARGE') return 'too-large';
  if (err.code === 'MS_KS_UNPARSEABLE' || err.code === 'MS_PGP_MALFORMED') return 'unparseable';
  return undefined;
}

/**
 * Fetches `digests` from `host:httpPort` and ingests them.
 * Never throws for the peer's faults: a failed fetch ends the recovery (`partial`, `error`);
 * store errors do propagate.
 */
export async function recover(
  ks: Ingest,
  refusedDigests: RefusedDigests,
  peer: { id: string; host: string; httpPort: number },
  digests: readonly Buffer[],
  opts: { now: () => UnixTime; localAddress?: string; limits?: RecoverLimits; log?: (message: string) => void; budget?: FetchBudget },
): Promise<RecoverReport> {
  const report: RecoverReport = { asked: digests.length, skipped: 0, present: 0, stored: 0, unchanged: 0, refused: {}, bytes: 0, partial: false };
  if (digests.length === 0) return report;
  const batchSize = Math.max(1, opts.limits?.batch ?? 100);
  const maxBytes = opts.limits?.maxBytes ?? 256 * 1024 * 1024;
  const refusedNow = await refusedDigests.refused(digests, opts.now());
  const present = new Set((await ks.store.digests.byDigest(digests)).map((c) => c.digest.toString('hex')));
  const todo = digests.filter((d) => {
    const hex = d.toString('hex');
    if (refusedNow.has(hex)) report.skipped++;
    else if (present.has(hex)) report.present++;
    else return true;
    return false;
  });
  const refusals: Refusal[] = [];
  const refuse = (digest: string, reason: RefusalReason, fpr?: string) => {
    refusals.push({ digest, reason, at: opts.now(), fpr, peer: peer.id });
    report.refused[reason] = (report.refused[reason] ?? 0) + 1;
  };
  // Stored, but hashing differently from what was sent: judged once the whole recovery is in,
  // since a certifier fetched later releases the certifications held aside for want of it.
  const unmatched = new Map<string, Unmatched>();
  try {
    for (let i = 0; i < todo.length; i += batchSize) {
      if (report.bytes >= maxBytes) {
        report.partial = true;
        break;
      }
      const batch = todo.slice(i, i + batchSize);
      // The answer's cap is reserved from the shared budget until the batch is ingested.
      const cap = Math.min(opts.limits?.hashquery?.maxBytes ?? DEFAULT_HASHQUERY_MAX_BYTES, opts.budget?.total ?? Number.POSITIVE_INFINITY);
      const release = opts.budget ? await opts.budget.reserve(cap) : () => {};
      try {
        let certs: Buffer[];
        try {
          certs = await fetchByHashes(peer.host, peer.httpPort, batch, { ...opts.limits?.hashquery, maxBytes: cap, localAddress: opts.localAddress });
        } catch (err) {
          report.partial = true;
          report.error = err;
          opts.log?.(`recon: fetching ${batch.length} certificates from ${peer.id} (HTTP port ${peer.httpPort}) failed: ${errorMessage(err)}`);
          break;
        }
        const wanted = new Set(batch.map((d) => d.toString('hex')));
        const got = new Set<string>();
        for (const bytes of certs) {
          report.bytes += bytes.length;
          const digest = sksDigest(bytes).toString('hex');
          // A certificate not asked for is not taken: the peer may only answer the question.
          if (!wanted.has(digest) || got.has(digest)) continue;
          got.add(digest);
          const u = await ingestOne(ks, bytes, digest, opts.now(), report, refuse);
          if (u) unmatched.set(digest, u);
        }
        for (const d of wanted) if (!got.has(d)) refuse(d, 'unavailable');
      } finally {
        release();
      }
    }
  } finally {
    if (unmatched.size > 0) {
      const now = new Set((await ks.store.digests.byDigest([...unmatched.keys()].map((d) => Buffer.from(d, 'hex')))).map((c) => c.digest.toString('hex')));
      for (const [digest, u] of unmatched) if (!now.has(digest)) refuse(digest, u.cut ? 'trimmed' : 'superseded', u.fpr);
    }
    await refusedDigests.record(refusals, opts.now());
  }
  return report;
}

/** A certificate stored from a peer whose stored copy hashes differently: whether the ingest cut something. */
interface Unmatched {
  cut: boolean;
  fpr: string;
}

/** Ingests one fetched certificate; refuses what cannot be stored, and returns what was stored under another digest. */
async function ingestOne(
  ks: Ingest,
  bytes: Buffer,
  digest: string,
  now: UnixTime,
  report: RecoverReport,
  refuse: (digest: string, reason: RefusalReason, fpr?: string) => void,
): Promise<Unmatched | undefined> {
  let outcome: Awaited<ReturnType<Ingest['submit']>>['certs'][number] | undefined;
  try {
    const r = await ks.submit(bytes, { now });
    // One certificate was sent; bare revocations and extra certificates are not recon's business.
    outcome = r.certs[0];
  } catch (err) {
    const reason = reasonOfError(err);
    if (!reason) throw err;
    refuse(digest, reason);
    return undefined;
  }
  if (!outcome) {
    refuse(digest, 'unparseable');
    return undefined;
  }
  const status = outcome.status;
  if (status === 'blocked' || status === 'rejected' || status === 'rate-limited') {
    refuse(digest, status, outcome.fpr);
    return undefined;
  }
  if (status === 'unchanged') report.unchanged++;
  else report.stored++;
  // What we stored may hash differently from what was sent: then the peer will offer it again.
  if ((await ks.store.digests.byDigest([Buffer.from(digest, 'hex')])).length > 0) return undefined;
  return { cut: outcome.held > 0 || Object.keys(outcome.dropped).length > 0, fpr: outcome.fpr };
}
