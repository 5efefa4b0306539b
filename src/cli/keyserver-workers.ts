/**
 * `serve --workers N`: N server processes answering on one listening socket (node:cluster,
 * each worker accepting its own connections), as nginx runs its workers or several servers
 * run in front of one PostgreSQL. The store is shared (SQLite in WAL mode serves many readers
 * beside one writer; every write is a transaction), so any worker answers any request. The
 * primary supervises: it starts the workers, replaces one that dies, passes SIGTERM and SIGINT
 * on, keeps the upload budgets for all of them (the HTTP upload buckets, and the keyserver's
 * per-client and per-certificate windows: a client or a certificate gets one budget, not one
 * per worker), and adds up their request counters for /metrics. Lookup buckets stay per worker.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { RateLimiter, type RateOptions } from '../hkp/limits.js';
import type { MetricsSnapshot } from '../hkp/metrics.js';
import type { HkpServerOptions } from '../hkp/server.js';
import type { UploadWindows } from '../server/upload-windows.js';

/** Messages between the primary and its workers (`ms` names the kind). */
type WindowOp = 'client' | 'cert-wait' | 'cert-changed';
type ToPrimary =
  | { ms: 'take-upload'; id: number; client: string }
  | { ms: 'window'; id: number; op: WindowOp; key: string; now: number }
  | { ms: 'metrics?'; id: number }
  | { ms: 'metrics'; id: number; snapshot: MetricsSnapshot };
type ToWorker = { ms: 'took'; id: number; wait: number } | { ms: 'collect'; id: number } | { ms: 'all-metrics'; id: number; snapshots: MetricsSnapshot[] };

/** How long the primary waits for the workers' counters before answering with those it has. */
const COLLECT_MS = 2_000;
/** After the primary failed to answer about an upload window, a worker counts on its own this long. */
const QUIET_MS = 60_000;
/** This many deaths within RESTART_WINDOW_MS and the primary gives up instead of restarting. */
const MAX_RESTARTS = 10;
/** A dead worker's replacement starts this long after. */
const RESTART_DELAY_MS = 1_000;
const RESTART_WINDOW_MS = 60_000;

const isMessage = (m: unknown): m is { ms: string; id: number } => typeof m === 'object' && m !== null && typeof (m as { ms?: unknown }).ms === 'string';

/** Whether this process is a worker started by `superviseWorkers`. */
export const isWorker = (): boolean => cluster.isWorker;

/**
 * In a worker: the HkpServer's `cluster` option and the keyserver's upload windows, talking to
 * the primary. `snapshot` gives this worker's counters when the primary collects them;
 * `fallback` counts uploads should the primary not answer (each worker then keeps its own).
 */
export function workerLink(snapshot: () => MetricsSnapshot, fallback: UploadWindows): NonNullable<HkpServerOptions['cluster']> & { windows: UploadWindows; close(): void } {
  let next = 0;
  const pending = new Map<number, (m: ToWorker) => void>();
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    const msg = m as ToWorker;
    if (msg.ms === 'collect') process.send?.({ ms: 'metrics', id: msg.id, snapshot: snapshot() } satisfies ToPrimary);
    else pending.get(msg.id)?.(msg);
  });
  const ask = (m: ToPrimary): Promise<ToWorker> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(m.id);
        reject(new Error('the primary process did not answer'));
      }, COLLECT_MS * 2);
      pending.set(m.id, (answer) => {
        clearTimeout(timer);
        pending.delete(m.id);
        resolve(answer);
      });
      process.send?.(m);
    });
  // A primary that did not answer is not asked again for a while: each upload would wait for it.
  let primaryQuietUntil = 0;
  const window = async (op: WindowOp, key: string, now: number, local: () => Promise<number>): Promise<number> => {
    if (Date.now() < primaryQuietUntil) return local();
    try {
      const a = await ask({ ms: 'window', id: ++next, op, key, now });
      return a.ms === 'took' ? a.wait : 0;
    } catch {
      primaryQuietUntil = Date.now() + QUIET_MS;
      return local();
    }
  };
  return {
    async takeUpload(client) {
      const a = await ask({ ms: 'take-upload', id: ++next, client });
      return a.ms === 'took' ? a.wait : 0;
    },
    windows: {
      takeClient: (client, now) => window('client', client, now, () => fallback.takeClient(client, now)),
      certWait: (fpr, now) => window('cert-wait', fpr, now, () => fallback.certWait(fpr, now)),
      certChanged: async (fpr, now) => {
        await window('cert-changed', fpr, now, async () => {
          await fallback.certChanged(fpr, now);
          return 0;
        });
      },
    },
    async allMetrics() {
      const a = await ask({ ms: 'metrics?', id: ++next });
      return a.ms === 'all-metrics' ? a.snapshots : [snapshot()];
    },
    /**
     * Lets the worker's process end once it stopped serving: the channel to the primary would
     * keep it alive. Unref, not disconnect: a disconnected worker exits 0, hiding its status.
     */
    close() {
      process.channel?.unref();
    },
  };
}

export interface WorkerPool {
  /** Resolves with the address once every worker listens; rejects with the exit code of a worker that died before. */
  listening: Promise<AddressInfo>;
  /** Resolves with an exit code when the pool gives up (workers dying over and over). */
  failed: Promise<number>;
  /** SIGTERM to every worker, SIGKILL after `graceMs`; resolves when all have exited. */
  stop(graceMs: number): Promise<void>;
}

export interface PoolLog {
  error(message: string): void;
  info(message: string): void;
  verbose(message: string): void;
}

/**
 * In the primary: starts `count` workers (each running this same command line), shares the
 * upload buckets and `windows` (the primary's keyserver's) and collects the counters for
 * them, and restarts any that dies after the pool listened.
 */
export function superviseWorkers(count: number, opts: { uploadRate: RateOptions | false; windows: UploadWindows; log: PoolLog }): WorkerPool {
  // Each worker accepts on the shared socket itself: the primary passing every connection on
  // (node's default round robin) would cost it CPU per connection, and SKS-style clients open
  // one per request.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const uploads = opts.uploadRate === false ? undefined : new RateLimiter(opts.uploadRate);
  const live = new Set<Worker>();
  const deaths: number[] = [];
  let listened = false;
  let listeningNow = 0;
  let stopping = false;
  let collectId = 0;
  let resolveListening!: (a: AddressInfo) => void;
  let rejectListening!: (code: number) => void;
  let resolveFailed!: (code: number) => void;
  const listening = new Promise<AddressInfo>((resolve, reject) => {
    resolveListening = resolve;
    rejectListening = reject;
  });
  const failed = new Promise<number>((resolve) => {
    resolveFailed = resolve;
  });
  // A rejection nobody awaits yet must not end the process.
  listening.catch(() => undefined);

  // Collections under way, by tag: one listener for all of them, whatever the number of /metrics requests.
  const collections = new Map<number, { snapshots: MetricsSnapshot[]; wanted: number; finish: () => void }>();
  cluster.on('message', (_from: Worker, m: unknown) => {
    if (!isMessage(m) || m.ms !== 'metrics') return;
    const c = collections.get(m.id);
    if (!c) return;
    c.snapshots.push((m as Extract<ToPrimary, { ms: 'metrics' }>).snapshot);
    if (c.snapshots.length >= c.wanted) c.finish();
  });
  const collect = (asker: Worker, id: number) => {
    const wanted = [...live].filter((w) => w.isConnected());
    const tag = ++collectId;
    const snapshots: MetricsSnapshot[] = [];
    const finish = () => {
      if (!collections.delete(tag)) return;
      clearTimeout(timer);
      if (asker.isConnected()) asker.send({ ms: 'all-metrics', id, snapshots } satisfies ToWorker);
    };
    const timer = setTimeout(finish, COLLECT_MS);
    collections.set(tag, { snapshots, wanted: wanted.length, finish });
    for (const w of wanted) w.send({ ms: 'collect', id: tag } satisfies ToWorker);
    if (wanted.length === 0) finish();
  };

  const windowAnswer = async (m: Extract<ToPrimary, { ms: 'window' }>): Promise<number> => {
    if (typeof m.key !== 'string' || !Number.isFinite(m.now)) return 0;
    if (m.op === 'client') return opts.windows.takeClient(m.key, m.now);
    if (m.op === 'cert-wait') return opts.windows.certWait(m.key, m.now);
    if (m.op === 'cert-changed') await opts.windows.certChanged(m.key, m.now);
    return 0;
  };

  const start = () => {
    const w = cluster.fork();
    live.add(w);
    w.on('message', (m: unknown) => {
      if (!isMessage(m)) return;
      const msg = m as ToPrimary;
      if (msg.ms === 'take-upload') w.send({ ms: 'took', id: msg.id, wait: uploads?.take(msg.client) ?? 0 } satisfies ToWorker);
      else if (msg.ms === 'window') void windowAnswer(msg).then((wait) => w.isConnected() && w.send({ ms: 'took', id: msg.id, wait } satisfies ToWorker));
      else if (msg.ms === 'metrics?') collect(w, msg.id);
    });
    w.on('listening', (address: AddressInfo) => {
      // Serving once every first worker listens: until then one death could leave none on the socket.
      if (listened || ++listeningNow < count) return;
      listened = true;
      resolveListening(address);
    });
    w.on('exit', (code, signal) => {
      live.delete(w);
      if (stopping) return;
      const why = signal ? `signal ${signal}` : `exit status ${code}`;
      if (!listened) {
        // It could not start (the address in use, the store unreadable): it said why on stderr.
        stopping = true;
        for (const other of live) other.process.kill('SIGTERM');
        rejectListening(code || 4);
        return;
      }
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && deaths[0] < now - RESTART_WINDOW_MS) deaths.shift();
      if (deaths.length >= MAX_RESTARTS) {
        opts.log.error(`worker ${w.process.pid} ended (${why}); ${deaths.length} workers ended within a minute: giving up`);
        resolveFailed(4);
        return;
      }
      opts.log.error(`worker ${w.process.pid} ended (${why}); starting another`);
      // A second apart, so a crash that repeats does not spin.
      setTimeout(() => {
        if (!stopping) start();
      }, RESTART_DELAY_MS);
    });
  };
  for (let i = 0; i < count; i++) start();

  return {
    listening,
    failed,
    async stop(graceMs) {
      stopping = true;
      const exits = [...live].map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
      for (const w of live) w.process.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
      }, graceMs);
      await Promise.all(exits);
      clearTimeout(timer);
    },
  };
}
