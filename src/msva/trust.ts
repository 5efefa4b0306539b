/**
 * Trust from the user's GnuPG home, for the validation agent: the same path as the user's
 * `monkeysphere` (src/user/): the home's user ID index (userid-index.ts, kept in the user's
 * cache store and recomputed when the keyring changes), keyserver lookups imported with
 * gpg's import-clean (fetch.ts), and, when a binding is refused, the engine's explanation.
 * A long-running agent gives every request its own reference time.
 */
import type { UnixTime } from '../clock.js';
import type { Env } from '../config/config.js';
import { defaultWebCachePath, openWebCache, type WebCache } from '../gnupg/cache.js';
import { computeGnupgWeb } from '../gnupg/trust.js';
import type { UidCert } from '../user/home-keys.js';
import type { UserLog } from '../user/ports.js';
import { unsafeCachePath } from '../user/tool.js';
import { homeState, openUserIdIndex } from '../user/userid-index.js';
import { Verifier } from '../verify/verifier.js';
import { reasonText } from '../wot/format.js';
import type { TrustNetwork } from '../wot/network.js';

export interface HomeTrustOptions {
  env: Env;
  gnupgHome: string;
  /** Where keyserver lookups go (hkp://, hkps://). */
  keyserver: string;
  /** Seconds one lookup may take. */
  keyserverTimeout: number;
  log: UserLog;
}

export class HomeTrust {
  private cache: WebCache | undefined;
  /** Openings of the index run one at a time: a recomputation is done once, not by every waiting request. */
  private opening: Promise<unknown> = Promise.resolve();
  /** The last web computed for explanations, and for which home state and times it holds. */
  private explaining: { state: string; after: number; before: number; network: TrustNetwork } | undefined;

  constructor(readonly opts: HomeTrustOptions) {}

  /** The user's cache store; one a stranger could write is not used (as the user's tool decides). */
  private async store() {
    if (!this.cache) {
      const location = this.opts.env.MONKEYSPHERE_CACHE || defaultWebCachePath(this.opts.env);
      const unsafe = location && unsafeCachePath(location);
      if (unsafe) this.opts.log.info(`not using the cache ${location}: ${unsafe}`);
      this.cache = await openWebCache(unsafe ? undefined : location, (m) => this.opts.log.debug(m));
    }
    return this.cache.store;
  }

  /** The certificates of the home carrying exactly `userId`, with their keys, at `now`. */
  async certsFor(userId: string, now: UnixTime): Promise<UidCert[]> {
    const store = await this.store();
    const next = this.opening.then(() => openUserIdIndex(this.opts.gnupgHome, now, { env: this.opts.env, store, onWarning: (m) => this.opts.log.verbose(m) }));
    this.opening = next.catch(() => undefined);
    const index = await next;
    this.opts.log.debug(`user IDs of ${this.opts.gnupgHome}: ${index.from}`);
    return index.lookup(userId);
  }

  private fetchOptions() {
    return {
      keyserver: this.opts.keyserver,
      timeoutSeconds: this.opts.keyserverTimeout,
      gnupgHome: this.opts.gnupgHome,
      env: this.opts.env,
      verbose: (m: string) => this.opts.log.verbose(m),
      error: (m: string) => this.opts.log.error(m),
    };
  }

  /** Asks the keyserver for `userId` and imports what matches exactly (gpg --search =UID, --recv-keys). */
  async fetchUserId(userId: string): Promise<void> {
    const { fetchUserIds } = await import('../user/fetch.js');
    await fetchUserIds([userId], this.fetchOptions());
  }

  /** Asks the keyserver for the key with this fingerprint (gpg --recv-keys 0xFPR). */
  async fetchFingerprint(fpr: string): Promise<void> {
    const { fetchFingerprints } = await import('../user/fetch.js');
    await fetchFingerprints([fpr], this.fetchOptions());
  }

  /** The web with explanations: kept while the home is unchanged and `now` within the span it holds for. */
  private async web(now: UnixTime): Promise<TrustNetwork> {
    const state = this.homeState();
    const kept = this.explaining;
    if (kept && kept.state === state && now > kept.after && now < kept.before) return kept.network;
    const store = await this.store();
    const computed = await computeGnupgWeb(this.opts.gnupgHome, now, {
      env: this.opts.env,
      snapshots: store?.snapshots,
      verifier: () => new Verifier({ cache: store?.verifications }),
      detail: 'explanations',
    });
    const window = computed.window;
    this.explaining = window ? { state, after: window.after, before: window.before, network: computed.network } : undefined;
    return computed.network;
  }

  /** Why the engine does not find `userId` on `fpr` fully valid, in words (one sentence per reason). */
  async whyNotValid(fpr: string, userId: string, now: UnixTime): Promise<string[]> {
    try {
      const network = await this.web(now);
      const e = network.explain(fpr, userId);
      const reasons = e.reasons.map(reasonText);
      if (reasons.length === 0 && e.counts) {
        reasons.push(`only ${e.counts.full} of ${e.counts.completesNeeded} fully trusted and ${e.counts.marginal} of ${e.counts.marginalsNeeded} marginal introducers`);
      }
      return reasons;
    } catch (err) {
      this.opts.log.error(`the reasons could not be computed: ${(err as Error).message}`);
      return [];
    }
  }

  /** Names the state of the home's files: equal states mean an unchanged keyring. */
  homeState(): string {
    return homeState(this.opts.gnupgHome);
  }

  async close(): Promise<void> {
    const cache = this.cache;
    this.cache = undefined;
    await cache?.close();
  }
}
