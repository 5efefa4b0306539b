/**
 * Per-client token buckets: each client (an address) has `burst` tokens, refilled at `perSecond`;
 * a request takes one or is refused with the seconds to wait. Time comes from an injected clock
 * in milliseconds (a duration source, not a reference time), so tests step it. At most
 * `maxClients` buckets are kept: the least recently seen go first, and a client forgotten
 * comes back with a full bucket, which only errs on the generous side.
 */
export interface RateOptions {
  burst: number;
  perSecond: number;
  maxClients?: number;
  clock?: () => number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly clock: () => number;
  private readonly maxClients: number;

  constructor(private readonly opts: RateOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    this.maxClients = opts.maxClients ?? 100_000;
  }

  /** Takes a token for `client`: 0 when allowed, else the whole seconds until one is there. */
  take(client: string): number {
    const now = this.clock();
    const b = this.buckets.get(client) ?? { tokens: this.opts.burst, at: now };
    this.buckets.delete(client);
    b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.perSecond);
    b.at = now;
    this.buckets.set(client, b);
    if (this.buckets.size > this.maxClients) this.buckets.delete(this.buckets.keys().next().value as string);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.opts.perSecond));
  }
}
