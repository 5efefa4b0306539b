/**
 * The keyserver's upload windows (`IngestPolicy`): uploads per client and changes per
 * certificate within sliding windows. `LocalUploadWindows` counts in this process's memory;
 * `serve --workers` gives its workers windows that ask the primary's (src/cli/keyserver-workers.ts),
 * so N workers allow what one would, not N times that. Several servers on one PostgreSQL each
 * keep their own.
 */
import type { UnixTime } from '../clock.js';
import type { IngestPolicy } from './ingest.js';

export interface UploadWindows {
  /** Seconds until `client` may upload; 0 when it may now, and this upload is counted. */
  takeClient(client: string, now: UnixTime): Promise<number>;
  /** Seconds until the certificate `fpr` may change again; 0 when it may now. */
  certWait(fpr: string, now: UnixTime): Promise<number>;
  /** Counts a change of the certificate `fpr`. */
  certChanged(fpr: string, now: UnixTime): Promise<void>;
}

/** Keys kept at most; past that, down to half. */
const MAX_KEYS = 100_000;

/** Sliding-window counters in memory, for at most MAX_KEYS keys. */
class RateWindow {
  private readonly hits = new Map<string, number[]>();
  constructor(
    private readonly limit: number,
    private readonly window: number,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.hits.get(key) ?? []).filter((t) => t > now - this.window);
    if (list.length === 0) this.hits.delete(key);
    else this.hits.set(key, list);
    if (this.hits.size > MAX_KEYS) this.forget(now);
    return list;
  }

  /**
   * Makes room: keys whose window has passed first, then those under their limit (they limit
   * nothing yet), oldest first; a key at its limit goes last. Forgetting in plain insertion
   * order let anyone reset a certificate's window by creating 100,000 others.
   */
  private forget(now: number): void {
    const target = MAX_KEYS / 2;
    for (const under of [0, this.limit - 1, Number.POSITIVE_INFINITY]) {
      for (const [k, list] of this.hits) {
        if (this.hits.size <= target) return;
        if (list.filter((t) => t > now - this.window).length <= under) this.hits.delete(k);
      }
    }
  }

  /** Seconds until one more is allowed; 0 when allowed now. */
  wait(key: string, now: number): number {
    const list = this.recent(key, now);
    if (list.length < this.limit) return 0;
    return Math.max(1, list[list.length - this.limit] + this.window - now);
  }

  add(key: string, now: number): void {
    const list = this.recent(key, now);
    list.push(now);
    this.hits.set(key, list);
  }
}

/** The windows in this process's memory. */
export class LocalUploadWindows implements UploadWindows {
  private readonly clients: RateWindow;
  private readonly certs: RateWindow;

  constructor(policy: Pick<IngestPolicy, 'clientUploads' | 'clientWindow' | 'certUpdates' | 'certWindow'>) {
    this.clients = new RateWindow(policy.clientUploads, policy.clientWindow);
    this.certs = new RateWindow(policy.certUpdates, policy.certWindow);
  }

  async takeClient(client: string, now: UnixTime): Promise<number> {
    const wait = this.clients.wait(client, now);
    if (wait === 0) this.clients.add(client, now);
    return wait;
  }

  async certWait(fpr: string, now: UnixTime): Promise<number> {
    return this.certs.wait(fpr, now);
  }

  async certChanged(fpr: string, now: UnixTime): Promise<void> {
    this.certs.add(fpr, now);
  }
}
