/**
 * The recon network service, as `sks recon` runs beside `sks db`: a listener that accepts
 * sessions from the peers of the membership file only (by address; others are closed with a log
 * line), and a gossip loop that every interval reconciles with one peer picked at random, from
 * our recon address (SKS accepts only its members' addresses). After a session, in either
 * role, what we lack is fetched from the peer's HKP port and ingested (recon-recover.ts).
 *
 * The tree is caught up from the store's change feed before each gossip and on a timer, and
 * never while a session reads it: an incoming session is refused "currently mutating" (as
 * Hockeypuck answers) during a catch-up, and a catch-up waits for the sessions under way.
 * Each peer's state (last sync, last error, keys exchanged, refusals) is kept here and in the
 * store's meta (recon-status.ts), where the HKP server's /metrics and stats read it.
 * Not here: the protocol (src/recon/), the membership file (recon-peers.ts).
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { systemTime, type UnixTime } from '../clock.js';
import { EnvironmentError, errorMessage, MsError } from '../errors.js';
import { isBusyRefusal, type LocalConfig, SKS_FILTERS, SKS_VERSION } from '../recon/config.js';
import { DEFAULT_RECON_SETTINGS, type ReconSettings } from '../recon/ptree.js';
import { type RunOptions, runSession, type SessionResult } from '../recon/session.js';
import { zpToDigest } from '../recon/zp.js';
import type { Keyserver } from './keyserver.js';
import { type MembershipFile, peerId, type ReconPeer } from './recon-peers.js';
import { type RecoverLimits, type RecoverReport, recover } from './recon-recover.js';
import { RefusedDigests } from './recon-refused.js';
import { type PeerState, writeStatus } from './recon-status.js';
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
  /** Sessions answered at once; more are refused as busy (default 4). */
  maxIncoming?: number;
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
  recovered?: RecoverReport;
  error?: unknown;
}

const noLog: ReconLog = { error() {}, info() {}, verbose() {}, debug() {} };

const MUTATING = 'sync not available, currently mutating';
const BUSY = 'sync not available, busy';

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
  private sessions = 0;
  private drained: (() => void) | undefined;
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
   * Opens and catches up the tree, listens, and starts the gossip loop.
   * @throws EnvironmentError MS_RECON_LISTEN when the recon address cannot be bound.
   */
  async start(): Promise<AddressInfo> {
    this.tree = await this.opts.trees.open(this.settings);
    await this.catchUp();
    const server = createServer((sock) => {
      const p = this.accept(sock).catch((err) => this.log.error(`recon: ${errorMessage(err)}`));
      this.incoming.add(p);
      void p.finally(() => this.incoming.delete(p));
    });
    this.server = server;
    this.bound = await new Promise<AddressInfo>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new EnvironmentError('MS_RECON_LISTEN', `cannot listen for recon on ${this.opts.host}:${this.opts.port}: ${err.code ?? err.message}`, { cause: err })),
      );
      server.listen(this.opts.port, this.opts.host, () => resolve(server.address() as AddressInfo));
    });
    server.on('error', (err) => this.log.error(`recon listener: ${errorMessage(err)}`));
    const gossip = this.opts.gossipIntervalMs ?? 60_000;
    if (gossip > 0) this.schedule(gossip, () => this.gossipOnce());
    const catchUp = this.opts.catchUpIntervalMs ?? 10_000;
    if (catchUp > 0) this.schedule(catchUp, () => (this.sessions === 0 && !this.mutating && !this.gossiping ? this.catchUp().then(() => undefined) : Promise.resolve()));
    this.log.info(`recon on ${this.instance}, announcing HTTP port ${this.opts.httpPort}, filters ${this.config.filters.join(',')}${gossip > 0 ? `, gossip every ${gossip / 1000} s` : ', not gossiping'}`);
    return this.bound;
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
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.gossiping?.catch(() => undefined);
  }

  /**
   * Applies the store's changes to the tree, once no session reads it; incoming sessions are
   * refused meanwhile. Returns the change seq the tree reflects.
   */
  async catchUp(): Promise<number> {
    const tree = this.requireTree();
    while (this.mutating) await new Promise((r) => setTimeout(r, 20));
    this.mutating = true;
    try {
      while (this.sessions > 0) await new Promise<void>((r) => (this.drained = r));
      const before = await tree.seq();
      const seq = await tree.catchUp();
      if (seq !== before) this.log.debug(`recon: tree caught up from change ${before} to ${seq}`);
      return seq;
    } finally {
      this.mutating = false;
    }
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
    try {
      await this.catchUp();
    } catch (err) {
      return this.finish(st, { peer: peer.id, direction: 'outgoing', ok: false, localMissing: 0, peerMissing: 0, truncated: false, error: err });
    }
    const local = isWildcard(this.opts.host) ? undefined : this.opts.host;
    const sock = connect({ host: peer.host, port: peer.port, localAddress: local });
    return this.session(sock, 'initiator', peer, peer.host, st, undefined);
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
      this.rejectedConnections++;
      this.log.info(`recon: refused a connection from ${from}: not in the membership file ${this.opts.membership.path}`);
      sock.destroy();
      return;
    }
    // A tree behind the store would report what we hold as missing: catch up first, when nothing reads the tree.
    if (!this.mutating && this.sessions === 0) {
      try {
        if ((await this.opts.ks.store.changes.latest()) !== (await this.requireTree().seq())) await this.catchUp();
      } catch (err) {
        this.log.error(`recon: catching the tree up failed: ${errorMessage(err)}`);
      }
    }
    const refuse = this.mutating ? MUTATING : this.sessions >= (this.opts.maxIncoming ?? 4) ? BUSY : undefined;
    const st = this.stateOf(peer.id);
    st.lastAttempt = this.now();
    await this.session(sock, 'responder', peer, from, st, refuse);
  }

  /** A session on `sock`, then the recovery; the report is also the peer's new state. */
  private async session(sock: Socket, role: 'initiator' | 'responder', peer: ReconPeer, host: string, st: PeerState, refuse: string | undefined): Promise<SyncReport> {
    const direction = role === 'initiator' ? 'outgoing' : 'incoming';
    const base = { peer: peer.id, direction, localMissing: 0, peerMissing: 0, truncated: false } as const;
    this.sockets.add(sock);
    this.sessions++;
    let result: SessionResult;
    try {
      result = await runSession(sock, role, this.requireTree(), this.config, { ...this.opts.session, refuse });
    } catch (err) {
      return this.finish(st, { ...base, ok: false, error: err });
    } finally {
      this.sockets.delete(sock);
      this.sessions--;
      if (this.sessions === 0) this.drained?.();
    }
    const report: SyncReport = { ...base, ok: true, localMissing: result.localMissing.length, peerMissing: result.peerMissing.length, truncated: result.truncated };
    this.log.verbose(`recon with ${peer.id} (${direction}): we lack ${report.localMissing}${report.truncated ? '+' : ''}, it lacks ${report.peerMissing}`);
    try {
      report.recovered = await recover(
        this.opts.ks,
        this.refusedDigests,
        { id: peer.id, host, httpPort: result.peer.httpPort },
        result.localMissing.map(zpToDigest),
        { now: this.now, localAddress: isWildcard(this.opts.host) ? undefined : this.opts.host, limits: this.opts.recover, log: (m) => this.log.info(m) },
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
      st = { peer: id, sessions: 0, failures: 0, fetched: 0, sent: 0, refused: 0, skipped: 0 };
      this.state.set(id, st);
    }
    return st;
  }

  /** Records a sync in the peer's state, logs it, stores the status. */
  private async finish(st: PeerState, r: SyncReport): Promise<SyncReport> {
    st.sessions++;
    st.sent += r.peerMissing;
    const rec = r.recovered;
    if (rec) {
      st.fetched += rec.stored;
      st.skipped += rec.skipped;
      st.refused += Object.values(rec.refused).reduce((a, b) => a + b, 0);
    }
    if (r.ok) {
      st.lastSync = this.now();
      st.lastDirection = r.direction;
    } else {
      st.failures++;
      st.lastError = errorMessage(r.error).slice(0, 500);
      st.lastErrorCode = r.error instanceof MsError ? r.error.code : undefined;
      st.lastErrorAt = this.now();
      this.logFailure(r);
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

  private logFailure(r: SyncReport): void {
    const e = r.error;
    const code = e instanceof MsError ? e.code : undefined;
    const text = `recon with ${r.peer} (${r.direction}) failed: ${errorMessage(e)}${code ? ` [${code}]` : ''}`;
    // Expected now and then: a busy peer, a peer closing while it fetches (SKS), our own refusal while mutating.
    if (isBusyRefusal(e) || code === 'MS_RECON_CLOSED' || (code === 'MS_RECON_CONFIG' && /currently mutating|busy/.test(String((e as MsError).data.reason)))) this.log.verbose(text);
    else this.log.info(text);
  }

  /** The peers' state as this process knows it (those in the membership file first, in file order). */
  async peerStates(): Promise<PeerState[]> {
    const listed = await this.opts.membership.peers();
    const out = listed.map((p) => this.state.get(p.id) ?? { peer: p.id, sessions: 0, failures: 0, fetched: 0, sent: 0, refused: 0, skipped: 0 });
    const ids = new Set(listed.map((p) => p.id));
    return [...out, ...[...this.state.values()].filter((s) => !ids.has(s.peer))];
  }

  /** Refusals remembered in the store. */
  get refused(): RefusedDigests {
    return this.refusedDigests;
  }
}

export { peerId };
