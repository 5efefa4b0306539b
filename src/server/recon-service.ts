/**
 * The recon network service, as `sks recon` runs beside `sks db`: a listener that accepts
 * sessions from the peers of the membership file only (by address; others are closed with a log
 * line), and a gossip loop that every interval reconciles with one peer picked at random, from
 * our recon address (SKS accepts only its members' addresses). After a session, in either
 * role, what we lack is fetched from the peer's HKP port and ingested (recon-recover.ts).
 *
 * An incoming connection is a session only once the peer's Config has arrived (within
 * `configTimeoutMs`, 10 s): an idle connection holds nothing up. A session holds one of
 * `maxIncoming` slots until the fetch that follows it is done, a peer has at most one
 * connection served (and one refused) at a time, and the fetches of all sessions share one byte
 * budget (recon-recover.ts `FetchBudget`): back-to-back sessions cannot pile up fetches.
 *
 * The tree is caught up from the store's change feed before each gossip and on a timer. An
 * incoming session is refused "currently mutating" (as Hockeypuck answers) during a catch-up,
 * and a catch-up waits for the sessions under way, at most `catchUpWaitMs` (15 s): then it goes
 * on, and a session reading the tree while it changes disagrees with its peer on a prefix and
 * tries again on the next sync (src/store/types.ts ReconTree). Our own busy refusals and a
 * peer's are counted as skipped attempts (`busy`), not as failures.
 * Each peer's state (last sync, last error, keys exchanged, refusals) is kept here and in the
 * store's meta (recon-status.ts), where the HKP server's /metrics and stats read it.
 * Not here: the protocol (src/recon/), the membership file (recon-peers.ts).
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { systemTime, type UnixTime } from '../clock.js';
import { EnvironmentError, errorMessage, InputError, MsError, TemporaryError } from '../errors.js';
import { isBusyRefusal, type LocalConfig, SKS_FILTERS, SKS_VERSION } from '../recon/config.js';
import { DEFAULT_RECON_SETTINGS, type ReconSettings } from '../recon/ptree.js';
import { type RunOptions, runSession, type SessionResult } from '../recon/session.js';
import { zpToDigest } from '../recon/zp.js';
import type { Keyserver } from './keyserver.js';
import { type MembershipFile, peerId, type ReconPeer } from './recon-peers.js';
import { FetchBudget, type RecoverLimits, type RecoverReport, recover } from './recon-recover.js';
import { RefusedDigests } from './recon-refused.js';
import { type PeerState, writeStatus, zeroState } from './recon-status.js';
import type { ReconTree, ReconTreeSource } from './recon-tree.js';

export interface ReconLog {
  error(message: string): void;
  info(message: string): void;
  verbose(message: string): void;
  debug(message: string): void;
}

export interface ReconServiceOptions {
  ks: Pick<Keyserver, 'store' | 'submit'>;
  trees: ReconTreeSource;
  membership: MembershipFile;
  /** Our recon address: listened on, and outgoing recon and hashquery connect from it (unless a wildcard). */
  host: string;
  /** Our recon port (0: any free port, for tests). */
  port: number;
  /** The HKP port we announce: peers fetch what they lack from there. */
  httpPort: number;
  /** Filters announced; peers must announce the same set (default SKS 1.1.6's: yminsky.dedup, yminsky.merge). */
  filters?: readonly string[];
  /** Between gossips, ms (default 60 s, as SKS); 0: never initiate (only answer). */
  gossipIntervalMs?: number;
  /** Catch the tree up this often while idle, ms (default 10 s); 0: only before gossips. */
  catchUpIntervalMs?: number;
  /** Sessions answered at once, each with its fetch; more are refused as busy (default 4). */
  maxIncoming?: number;
  /** An incoming connection must send its Config within this, ms, or is closed (default 10 s). */
  configTimeoutMs?: number;
  /** Longest wait of a catch-up for the sessions reading the tree, ms (default 15 s); then it goes on. */
  catchUpWaitMs?: number;
  /** Bytes of hashquery answers all fetches in flight may hold together (default 128 MiB; each reserves its cap, 64 MiB). */
  fetchBudgetBytes?: number;
  settings?: ReconSettings;
  /** Session limits: maxRecover (2000), readTimeoutMs (60 s), deadlineMs (10 min). */
  session?: RunOptions;
  recover?: RecoverLimits;
  log?: ReconLog;
  now?: () => UnixTime;
}

/** What one sync did. */
export interface SyncReport {
  peer: string;
  direction: 'outgoing' | 'incoming';
  ok: boolean;
  /** Elements the session found we lack, and the peer lacks. */
  localMissing: number;
  peerMissing: number;
  truncated: boolean;
  /** Elements the peer offered that are not MD5 digests (2^128 or more): dropped, not fetched. */
  dropped?: number;
  recovered?: RecoverReport;
  /** Set when the session did not run because one side was busy (our refusal or the peer's): not a failure. */
  busy?: string;
  error?: unknown;
}

const noLog: ReconLog = { error() {}, info() {}, verbose() {}, debug() {} };

const MUTATING = 'sync not available, currently mutating';
const BUSY = 'sync not available, busy';
/** Largest first message (the peer's Config) waited for before a connection counts as a session. */
const MAX_CONFIG_BYTES = 64 * 1024;
/** Connections from one non-member address are logged at INFO once per this many ms; the rest are counted. */
const STRANGER_LOG_MS = 10 * 60_000;
/** Most addresses whose refused connections are tracked for the log. */
const STRANGERS_TRACKED = 1000;
const DIGEST_LIMIT = 1n << 128n;

function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::';
}

export class ReconService {
  private server: Server | undefined;
  private tree: ReconTree | undefined;
  private readonly log: ReconLog;
  private readonly now: () => UnixTime;
  private readonly refusedDigests: RefusedDigests;
  private readonly state = new Map<string, PeerState>();
  private readonly sockets = new Set<Socket>();
  private mutating = false;
  /** Sessions reading the tree (counted from the peer's Config): what a catch-up waits for. */
  private sessions = 0;
  /** Incoming sessions with their fetches: what maxIncoming bounds. */
  private slots = 0;
  /** Connections per peer (incoming in any phase, and our outgoing sync). */
  private readonly peerConns = new Map<string, number>();
  private drainWaiters: (() => void)[] = [];
  private catchUpRunning: Promise<number> | undefined;
  private catchUpQueued: Promise<number> | undefined;
  private readonly budget: FetchBudget;
  private readonly strangers = new Map<string, { since: number; more: number }>();
  private strangersUntracked = 0;
  private gossiping: Promise<SyncReport | undefined> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private bound: AddressInfo | undefined;
  private rejectedConnections = 0;
  private readonly incoming = new Set<Promise<unknown>>();

  constructor(private readonly opts: ReconServiceOptions) {
    this.log = opts.log ?? noLog;
    this.now = opts.now ?? systemTime;
    this.refusedDigests = new RefusedDigests(opts.ks.store.meta);
    this.budget = new FetchBudget(opts.fetchBudgetBytes ?? 128 * 1024 * 1024);
  }

  /** The byte budget the fetches share (for tests and stats). */
  get fetchBudget(): FetchBudget {
    return this.budget;
  }

  get settings(): ReconSettings {
    return this.opts.settings ?? DEFAULT_RECON_SETTINGS;
  }

  /** What we announce in the Config exchange. */
  get config(): LocalConfig {
    return { version: SKS_VERSION, httpPort: this.opts.httpPort, bitQuantum: this.settings.bitQuantum, mbar: this.settings.mbar, filters: this.opts.filters ?? SKS_FILTERS };
  }

  /** `host:port` of the listener, once started. */
  get address(): AddressInfo | undefined {
    return this.bound;
  }

  /** How we name ourselves in the stored status: our recon address. */
  get instance(): string {
    const a = this.bound;
    return a ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : `${this.opts.host}:${this.opts.port}`;
  }

  /**
   * Opens the tree and binds the recon address, without catching up or gossiping yet (so a
   * command can fail on a bad setup before it announces anything). `start` does it if not done.
   * @throws EnvironmentError MS_RECON_LISTEN when the recon address cannot be bound.
   */
  async listen(): Promise<AddressInfo> {
    if (this.bound) return this.bound;
    this.tree ??= await this.opts.trees.open(this.settings);
    const server = createServer((sock) => {
      const p = this.accept(sock).catch((err) => this.log.error(`recon: ${errorMessage(err)}`));
      this.incoming.add(p);
      void p.finally(() => this.incoming.delete(p));
    });
    this.server = server;
    this.bound = await new Promise<AddressInfo>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new EnvironmentError('MS_RECON_LISTEN', `cannot listen for recon on ${this.opts.host}:${this.opts.port}: ${err.code ?? err.message}`, {
            cause: err,
            hints:
              err.code === 'EADDRINUSE'
                ? ['another process uses this port (an sks recon, or another recon of ours?); stop it or pick another with --recon']
                : err.code === 'EADDRNOTAVAIL'
                  ? ['the address is not one of this host\'s; --recon takes a local address']
                  : err.code === 'EACCES'
                    ? ['ports below 1024 need root or CAP_NET_BIND_SERVICE']
                    : [],
          }),
        ),
      );
      server.listen(this.opts.port, this.opts.host, () => resolve(server.address() as AddressInfo));
    });
    server.on('error', (err) => this.log.error(`recon listener: ${errorMessage(err)}`));
    return this.bound;
  }

  /**
   * Listens (if `listen` was not called), catches the tree up, and starts the gossip loop.
   * Incoming sessions during the first catch-up (a first build may take minutes) are refused as
   * "currently mutating".
   * @throws EnvironmentError MS_RECON_LISTEN when the recon address cannot be bound.
   */
  async start(): Promise<AddressInfo> {
    await this.listen();
    await this.catchUp();
    const gossip = this.opts.gossipIntervalMs ?? 60_000;
    if (gossip > 0) this.schedule(gossip, () => this.gossipOnce());
    const catchUp = this.opts.catchUpIntervalMs ?? 10_000;
    if (catchUp > 0) this.schedule(catchUp, () => (this.sessions === 0 && !this.mutating && !this.gossiping ? this.catchUp().then(() => undefined) : Promise.resolve()));
    this.log.info(`recon on ${this.instance}, announcing HTTP port ${this.opts.httpPort}, filters ${this.config.filters.join(',')}${gossip > 0 ? `, gossip every ${gossip / 1000} s` : ', not gossiping'}`);
    return this.bound!;
  }

  /** Runs `job` every `ms`, never two at once; an error is logged, the loop goes on. */
  private schedule(ms: number, job: () => Promise<unknown>): void {
    const tick = () => {
      if (this.closed) return;
      job()
        .catch((err) => this.log.error(`recon: ${errorMessage(err)}`))
        .finally(() => {
          if (!this.closed) this.timers.push(setTimeout(tick, ms));
        });
    };
    this.timers.push(setTimeout(tick, ms));
  }

  /** Resolves once the incoming sessions under way, and their fetches, are done (for tests and shutdown). */
  async settle(): Promise<void> {
    while (this.incoming.size > 0) await Promise.all([...this.incoming]);
  }

  /** Stops listening and gossiping, and cuts sessions under way. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    this.wakeDrainWaiters();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.gossiping?.catch(() => undefined);
  }

  /**
   * Applies the store's changes to the tree; incoming sessions are refused meanwhile. Waits for
   * the sessions reading the tree, at most `catchUpWaitMs`. Catch-ups run one at a time; calls
   * made while one runs share the next. Returns the change seq the tree reflects.
   */
  catchUp(): Promise<number> {
    if (this.catchUpQueued) return this.catchUpQueued;
    const running = this.catchUpRunning;
    if (!running) return this.runCatchUp();
    const queued = running
      .catch(() => 0)
      .then(() => {
        this.catchUpQueued = undefined;
        return this.runCatchUp();
      });
    this.catchUpQueued = queued;
    return queued;
  }

  private runCatchUp(): Promise<number> {
    const tree = this.requireTree();
    const run = (async () => {
      this.mutating = true;
      try {
        await this.sessionsDone(this.opts.catchUpWaitMs ?? 15_000);
        if (this.sessions > 0) this.log.verbose(`recon: catching the tree up while ${this.sessions} session(s) still read it (they may disagree with their peer on a prefix, and sync again later)`);
        const before = await tree.seq();
        const seq = await tree.catchUp();
        if (seq !== before) this.log.debug(`recon: tree caught up from change ${before} to ${seq}`);
        return seq;
      } finally {
        this.mutating = false;
      }
    })();
    this.catchUpRunning = run;
    void run
      .finally(() => {
        if (this.catchUpRunning === run) this.catchUpRunning = undefined;
      })
      .catch(() => undefined);
    return run;
  }

  /** Resolves once no session reads the tree, or after `ms`. */
  private sessionsDone(ms: number): Promise<void> {
    if (this.sessions === 0 || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.drainWaiters.push(done);
    });
  }

  private wakeDrainWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }

  private requireTree(): ReconTree {
    if (!this.tree) throw new MsError('MS_RECON_INTERNAL', 'the recon service is not started');
    return this.tree;
  }

  /** One gossip round with a random peer (the timer's job); undefined when there is no peer. */
  async gossipOnce(): Promise<SyncReport | undefined> {
    const peers = (await this.opts.membership.peers()).filter((p) => !this.isSelf(p));
    if (peers.length === 0) return undefined;
    return this.syncWith(peers[Math.floor(Math.random() * peers.length)]);
  }

  private isSelf(p: ReconPeer): boolean {
    return this.bound !== undefined && p.port === this.bound.port && (p.host === this.bound.address || p.host === this.opts.host);
  }

  /**
   * Reconciles with `peer` now (the test and operator hook): catch up, connect from our
   * address, run the session as initiator, fetch and ingest what we lack. Waits for a gossip
   * under way first. Failures are in the report, not thrown.
   */
  async syncWith(peer: ReconPeer | string): Promise<SyncReport> {
    while (this.gossiping) await this.gossiping.catch(() => undefined);
    const run = this.outgoing(peer);
    this.gossiping = run;
    try {
      return (await run) as SyncReport;
    } finally {
      this.gossiping = undefined;
    }
  }

  private async outgoing(which: ReconPeer | string): Promise<SyncReport> {
    const peers = await this.opts.membership.peers();
    const peer = typeof which === 'string' ? peers.find((p) => p.id === which || `${p.host}:${p.port}` === which) : which;
    if (!peer) throw new MsError('MS_RECON_INTERNAL', `${String(which)} is not in the membership file`);
    const st = this.stateOf(peer.id);
    st.lastAttempt = this.now();
    const base = { peer: peer.id, direction: 'outgoing', ok: false, localMissing: 0, peerMissing: 0, truncated: false } as const;
    // One fetch per peer at a time: its own session with us (and fetch) is still under way.
    if ((this.peerConns.get(peer.id) ?? 0) > 0) return this.finish(st, { ...base, busy: 'its incoming session or fetch is still under way' });
    this.peerConns.set(peer.id, (this.peerConns.get(peer.id) ?? 0) + 1);
    try {
      try {
        await this.catchUp();
      } catch (err) {
        return this.finish(st, { ...base, error: err });
      }
      const local = isWildcard(this.opts.host) ? undefined : this.opts.host;
      const sock = connect({ host: peer.host, port: peer.port, localAddress: local });
      return await this.session(sock, 'initiator', peer, peer.host, st, undefined);
    } finally {
      this.release(peer.id);
    }
  }

  private release(id: string): void {
    const n = (this.peerConns.get(id) ?? 1) - 1;
    if (n > 0) this.peerConns.set(id, n);
    else this.peerConns.delete(id);
  }

  /** Logs a connection from a non-member: the first per address per 10 minutes at INFO, the rest counted. */
  private refuseStranger(from: string): void {
    this.rejectedConnections++;
    const t = performance.now();
    const seen = this.strangers.get(from);
    if (seen && t - seen.since < STRANGER_LOG_MS) {
      seen.more++;
      this.log.debug(`recon: refused a connection from ${from}: not in the membership file`);
      return;
    }
    if (!seen && this.strangers.size >= STRANGERS_TRACKED) {
      for (const [k, v] of this.strangers) if (t - v.since >= STRANGER_LOG_MS) this.strangers.delete(k);
      if (this.strangers.size >= STRANGERS_TRACKED) {
        // Too many addresses to track: counted, and summarised with the next line logged.
        this.strangersUntracked++;
        return;
      }
    }
    const more = seen && seen.more > 0 ? ` (and ${seen.more} more from it in the ${STRANGER_LOG_MS / 60_000} minutes before)` : '';
    const others = this.strangersUntracked > 0 ? `; ${this.strangersUntracked} from other addresses not logged` : '';
    this.strangersUntracked = 0;
    this.strangers.set(from, { since: t, more: 0 });
    this.log.info(
      `recon: refused a connection from ${from}: not in the membership file ${this.opts.membership.path}${more}${others}; further ones from it in the next ${STRANGER_LOG_MS / 60_000} minutes are only counted`,
    );
  }

  private async accept(sock: Socket): Promise<void> {
    sock.on('error', () => {});
    const from = sock.remoteAddress ?? '?';
    let peer: ReconPeer | undefined;
    try {
      peer = await this.opts.membership.peerFor(from);
    } catch (err) {
      this.log.error(`recon: ${errorMessage(err)}`);
    }
    if (!peer || this.closed) {
      if (!this.closed) this.refuseStranger(from);
      sock.destroy();
      return;
    }
    const conns = this.peerConns.get(peer.id) ?? 0;
    // One connection served and one refused per peer at a time; more are closed at once.
    if (conns >= 2) {
      this.log.debug(`recon: closed a connection from ${peer.id}: two of its connections are open already`);
      sock.destroy();
      return;
    }
    this.peerConns.set(peer.id, conns + 1);
    this.sockets.add(sock);
    const st = this.stateOf(peer.id);
    st.lastAttempt = this.now();
    const base = { peer: peer.id, direction: 'incoming', ok: false, localMissing: 0, peerMissing: 0, truncated: false } as const;
    let slot = false;
    try {
      // Not yet a session: nothing waits for a connection that has not sent its Config.
      const configTimeoutMs = this.opts.configTimeoutMs ?? 10_000;
      const notConfig = await firstMessage(sock, configTimeoutMs);
      if (notConfig) {
        this.sockets.delete(sock);
        sock.destroy();
        if (!this.closed) await this.finish(st, { ...base, error: notConfig });
        return;
      }
      // A tree behind the store would report what we hold as missing: catch up first, when nothing reads the tree.
      if (conns === 0 && !this.mutating && this.sessions === 0) {
        try {
          if ((await this.opts.ks.store.changes.latest()) !== (await this.requireTree().seq())) await this.catchUp();
        } catch (err) {
          this.log.error(`recon: catching the tree up failed: ${errorMessage(err)}`);
        }
      }
      const refuse = conns > 0 ? BUSY : this.mutating ? MUTATING : this.slots >= (this.opts.maxIncoming ?? 4) ? BUSY : undefined;
      if (refuse === undefined) {
        slot = true;
        this.slots++;
      }
      await this.session(sock, 'responder', peer, from, st, refuse, refuse === undefined ? undefined : configTimeoutMs);
    } finally {
      this.sockets.delete(sock);
      if (slot) this.slots--;
      this.release(peer.id);
    }
  }

  /** A session on `sock`, then the recovery; the report is also the peer's new state. */
  private async session(
    sock: Socket,
    role: 'initiator' | 'responder',
    peer: ReconPeer,
    host: string,
    st: PeerState,
    refuse: string | undefined,
    readTimeoutMs?: number,
  ): Promise<SyncReport> {
    const direction = role === 'initiator' ? 'outgoing' : 'incoming';
    const base = { peer: peer.id, direction, localMissing: 0, peerMissing: 0, truncated: false } as const;
    this.sockets.add(sock);
    // A refused session does not read the tree.
    const counted = refuse === undefined;
    if (counted) this.sessions++;
    let result: SessionResult;
    try {
      const opts = { ...this.opts.session, refuse };
      result = await runSession(sock, role, this.requireTree(), this.config, readTimeoutMs === undefined ? opts : { ...opts, readTimeoutMs });
    } catch (err) {
      const busy = refuse !== undefined && err instanceof MsError && err.code === 'MS_RECON_CONFIG' ? `we answered: ${refuse}` : isBusyRefusal(err) ? `it answered: ${String((err as MsError).data.reason)}` : undefined;
      return this.finish(st, { ...base, ok: false, error: err, busy });
    } finally {
      this.sockets.delete(sock);
      if (counted) {
        this.sessions--;
        if (this.sessions === 0) this.wakeDrainWaiters();
      }
    }
    const digests: Buffer[] = [];
    let dropped = 0;
    for (const e of result.localMissing) {
      if (e >= 0n && e < DIGEST_LIMIT) digests.push(zpToDigest(e));
      else dropped++;
    }
    const report: SyncReport = { ...base, ok: true, localMissing: result.localMissing.length, peerMissing: result.peerMissing.length, truncated: result.truncated };
    if (dropped > 0) {
      report.dropped = dropped;
      this.log.info(`recon with ${peer.id} (${direction}): dropped ${dropped} element(s) it offered that are not MD5 digests (2^128 or more)`);
    }
    this.log.verbose(`recon with ${peer.id} (${direction}): we lack ${report.localMissing}${report.truncated ? '+' : ''}, it lacks ${report.peerMissing}`);
    try {
      report.recovered = await recover(
        this.opts.ks,
        this.refusedDigests,
        { id: peer.id, host, httpPort: result.peer.httpPort },
        digests,
        { now: this.now, localAddress: isWildcard(this.opts.host) ? undefined : this.opts.host, limits: this.opts.recover, log: (m) => this.log.info(m), budget: this.budget },
      );
      if (report.recovered.error) {
        report.ok = false;
        report.error = report.recovered.error;
      }
    } catch (err) {
      report.ok = false;
      report.error = err;
    }
    return this.finish(st, report);
  }

  private stateOf(id: string): PeerState {
    let st = this.state.get(id);
    if (!st) {
      st = zeroState(id);
      this.state.set(id, st);
    }
    return st;
  }

  /** Records a sync in the peer's state, logs it, stores the status. */
  private async finish(st: PeerState, r: SyncReport): Promise<SyncReport> {
    if (r.busy !== undefined) {
      // Not the peer's failure: the attempt is counted as skipped.
      st.busy = (st.busy ?? 0) + 1;
      this.log.verbose(`recon with ${r.peer} (${r.direction}) skipped: ${r.busy}`);
    } else {
      st.sessions++;
      st.sent += r.peerMissing;
      st.dropped = (st.dropped ?? 0) + (r.dropped ?? 0);
    }
    const rec = r.recovered;
    if (rec) {
      st.fetched += rec.stored;
      st.skipped += rec.skipped;
      st.refused += Object.values(rec.refused).reduce((a, b) => a + b, 0);
    }
    if (r.busy !== undefined) {
      // Neither a success nor a failure.
    } else if (r.ok) {
      st.lastSync = this.now();
      st.lastDirection = r.direction;
    } else {
      st.failures++;
      st.lastError = errorMessage(r.error).slice(0, 500);
      st.lastErrorCode = r.error instanceof MsError ? r.error.code : undefined;
      st.lastErrorAt = this.now();
      this.logFailure(r, st);
    }
    if (rec && (rec.stored > 0 || rec.skipped > 0 || Object.keys(rec.refused).length > 0)) {
      const refused = Object.entries(rec.refused).map(([k, v]) => `${v} ${k}`);
      this.log.info(`recon with ${r.peer}: ${rec.stored} certificates stored, ${rec.unchanged} unchanged, ${rec.skipped} skipped as refused before${refused.length > 0 ? `, refused now: ${refused.join(', ')}` : ''}`);
    }
    try {
      await writeStatus(this.opts.ks.store.meta, this.instance, { httpPort: this.opts.httpPort, updated: this.now(), rejectedConnections: this.rejectedConnections, peers: [...this.state.values()] });
    } catch (err) {
      this.log.error(`recon: cannot store the peers' state: ${errorMessage(err)}`);
    }
    return r;
  }

  private logFailure(r: SyncReport, st: PeerState): void {
    const e = r.error;
    const code = e instanceof MsError ? e.code : undefined;
    const hint = failureHint(r);
    const text = `recon with ${r.peer} (${r.direction}) failed: ${printableReason(errorMessage(e))}${code ? ` [${code}]` : ''}${hint ? `; ${hint}` : ''}`;
    // Expected now and then: a peer closing while it fetches (SKS does, in either role); worth
    // INFO only for an outgoing session to a peer we never synced with (likely not a member there).
    if (code === 'MS_RECON_CLOSED' && (r.direction === 'incoming' || st.lastSync !== undefined)) this.log.verbose(text);
    else this.log.info(text);
  }

  /** The peers' state as this process knows it (those in the membership file first, in file order). */
  async peerStates(): Promise<PeerState[]> {
    const listed = await this.opts.membership.peers();
    const out = listed.map((p) => this.state.get(p.id) ?? zeroState(p.id));
    const ids = new Set(listed.map((p) => p.id));
    return [...out, ...[...this.state.values()].filter((s) => !ids.has(s.peer))];
  }

  /** Refusals remembered in the store. */
  get refused(): RefusedDigests {
    return this.refusedDigests;
  }
}

export { peerId };

/** A hint for an operator reading a failure: what usually causes it. */
function failureHint(r: SyncReport): string | undefined {
  const e = r.error;
  if (!(e instanceof MsError)) return undefined;
  const reason = String(e.data.reason ?? '');
  if ((e.code === 'MS_RECON_CONFIG' || e.code === 'MS_RECON_CONFIG_REJECTED') && /filters do not match/.test(reason)) {
    return 'a freshly built SKS announces yminsky.dedup alone: try --recon-filters yminsky.dedup';
  }
  if (e.code === 'MS_RECON_CLOSED' && r.direction === 'outgoing') return "the peer closed the connection: is our address in the peer's membership file? (SKS also closes while it fetches keys)";
  return undefined;
}

/** A peer's reason on one line: SKS's filter mismatch comes with newlines and tabs. */
function printableReason(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').replace(/\t/g, ' ');
}

/**
 * Waits for the first message of an incoming connection (the peer's Config) to arrive whole,
 * without consuming it (read in paused mode, then put back with `unshift` for the session).
 * Resolves undefined once it is there, or the error that ends the connection: nothing within
 * `timeoutMs`, the peer closed, or a first message too large to be a Config.
 */
function firstMessage(sock: Socket, timeoutMs: number): Promise<MsError | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: MsError | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.off('readable', onReadable);
      sock.off('end', onEnd);
      sock.off('close', onEnd);
      if (err === undefined && size > 0) {
        try {
          sock.unshift(Buffer.concat(chunks, size));
        } catch (e) {
          return resolve(new TemporaryError('MS_RECON_CLOSED', `recon peer closed the connection after its Config (${errorMessage(e)})`));
        }
      }
      resolve(err);
    };
    const onReadable = () => {
      for (let c = sock.read() as Buffer | null; c !== null; c = sock.read() as Buffer | null) {
        chunks.push(c);
        size += c.length;
      }
      if (size < 4) return;
      const head = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      const n = head.readUInt32BE(0);
      if (n > MAX_CONFIG_BYTES) {
        return finish(new InputError('MS_RECON_LIMIT', `recon peer's first message is ${n} bytes; a Config is at most ${MAX_CONFIG_BYTES}`, { data: { length: n, max: MAX_CONFIG_BYTES } }));
      }
      if (size >= 4 + n) finish(undefined);
    };
    const onEnd = () => finish(new TemporaryError('MS_RECON_CLOSED', 'recon peer closed the connection before sending its Config'));
    const timer = setTimeout(
      () => finish(new TemporaryError('MS_RECON_TIMEOUT', `recon peer sent no Config within ${timeoutMs} ms`, { data: { timeoutMs } })),
      timeoutMs,
    );
    sock.on('readable', onReadable);
    sock.once('end', onEnd);
    sock.once('close', onEnd);
  });
}
