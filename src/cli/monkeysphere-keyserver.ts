/**
 * monkeysphere-keyserver: the keyserver Monkeysphere needs. `serve` answers HKP (v1 and the
 * read side of v2), VKS, WKD and the web pages over one store (SQLite, or PostgreSQL shared by
 * several servers), and with `--recon` syncs with SKS-compatible peers; `recon` runs that sync
 * alone beside a serve process, `ptree-rebuild` rebuilds its prefix tree; `import` and `dump`
 * move certificates in and out in bulk; `delete`,
 * `block`, `unblock` and `blocklist` handle takedowns. The rules are the service's
 * (src/server/) and the HTTP face's (src/hkp/); only this file prints.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { referenceTime } from '../clock.js';
import { UsageError } from '../errors.js';
import { parseFingerprint } from '../openpgp/fingerprint.js';
import type { Keyserver } from '../server/keyserver.js';
import type { UploadWindows } from '../server/upload-windows.js';
import { isPostgresUrl, type Store } from '../store/index.js';
import { printable } from '../util/printable.js';
import { type Io, processIo } from './io.js';
import { type Logger, loggerFor } from './log.js';
import { EXIT, runCommand } from './run.js';
import { version } from './version.js';

const TOOL = 'monkeysphere-keyserver';
const DEFAULT_LISTEN = '127.0.0.1:11371';
/** What SKS 1.1.6 requires of a peer (recon/config.ts SKS_FILTERS). */
const RECON_FILTERS = 'yminsky.dedup,yminsky.merge';

interface GlobalOptions {
  store?: string;
}

const DESCRIPTION = [
  'An OpenPGP keyserver that keeps the web of trust and cannot be flooded. Every signature is verified on the way in; third-party certifications are kept when their issuer is known, held aside until it is, and trimmed to a per-certificate budget that never touches self-signatures, revocations or attested certifications.',
  'It speaks HKP as GnuPG and SKS do (/pks/lookup, /pks/add, /pks/hashquery), the read side of HKP v2 (/pks/v2/) and of keys.openpgp.org\'s VKS (/vks/v1/), the Web Key Directory (/.well-known/openpgpkey/), /pks/health and Prometheus /metrics, and serves search, key, upload and statistics pages at /.',
].join('\n\n');

const AFTER = `
Store:
  --store URL names the database: sqlite:PATH (or a plain path) for an embedded SQLite
  file, or postgres://USER@HOST/DB (postgresql:// too) for PostgreSQL, which several
  servers can share. Without --store: $MONKEYSPHERE_KEYSERVER_STORE, else
  $MONKEYSPHERE_SYSDATADIR/keyserver.sqlite (default /var/lib/monkeysphere/keyserver.sqlite).
  The schema is created and migrated automatically.

Serving:
  serve listens on ADDR:PORT (default ${DEFAULT_LISTEN}; HKP's port is 11371) and runs
  until SIGTERM or SIGINT, then finishes the answers under way (at most 5 s) and exits 0.
  Put a TLS reverse proxy in front for hkps:// and WKD (clients fetch WKD over https;
  WKD answers only for the domains named with --wkd-domain, since anyone can upload keys);
  with --trust-proxy the client address (for rate limits) is the last X-Forwarded-For entry.
  GnuPG users who want certifications must set
  keyserver-options no-self-sigs-only,no-import-clean.

Recon (synchronisation with SKS, Hockeypuck and other monkeysphere-keyservers):
  serve --recon ADDR:PORT --peers FILE runs recon inside the server; recon --recon
  ADDR:PORT --peers FILE --http-port PORT runs it as a separate process on the same
  store, as sks recon runs beside sks db. Every --gossip-interval seconds (default 60)
  it reconciles with one peer of the membership file picked at random, connecting
  from ADDR (SKS accepts recon only from its members' addresses), then fetches what
  it lacks from the peer's HKP port (POST /pks/hashquery) and takes it through the
  same checks as an upload. Connections from addresses not in the file are closed.
  The membership file has SKS's format, "host port" per line (# starts a comment),
  and is reread when it changes; each peer must list our ADDR and port likewise.
  We announce version 1.1.6, bitquantum 2, mbar 5 and --recon-filters (default
  ${RECON_FILTERS}, which SKS 1.1.6 requires; a fresh SKS database announces
  yminsky.dedup alone). Certificates our policy trims or refuses hash differently
  from a peer's copy; their digests are remembered as refused and not fetched again
  for a while (a day to a month, by reason). Peers' last sync, last error and keys
  exchanged are on op=stats and /metrics. The prefix tree is built on the first start
  and kept up to date; ptree-rebuild (SKS: pbuild) rebuilds it for an existing store.
  The membership file and the recon port are checked before serve announces itself.

Logs:
  On stderr, prefixed "ms: ", at MONKEYSPHERE_LOG_LEVEL (SILENT, ERROR, INFO, VERBOSE,
  DEBUG; default INFO). VERBOSE logs each upload and refused request, DEBUG each request.

Exit status:
  0  done (serve: stopped by a signal)
  1  delete or unblock: no such certificate or entry
  2  usage error
  3  bad input: a file that is not OpenPGP, a malformed fingerprint
  4  environment: the store cannot be opened, the address cannot be bound, a file unreadable
     (the recon membership file included; a bad line in it is 3)
  5  temporary: the store is busy or down

Examples:
  monkeysphere-keyserver serve --listen 0.0.0.0:11371 --store sqlite:/srv/keys.sqlite
  monkeysphere-keyserver serve --store postgres://keys@db.example.org/keys
  monkeysphere-keyserver import --store sqlite:/srv/keys.sqlite --workers 2 keyring.pgp dump/*.pgp
  monkeysphere-keyserver serve --store sqlite:/srv/keys.sqlite --recon 192.0.2.10:11370 --peers /etc/monkeysphere/membership
  monkeysphere-keyserver recon --store postgres://keys@db.example.org/keys --recon 192.0.2.10:11370 --peers /etc/monkeysphere/membership --http-port 11371
  monkeysphere-keyserver dump --store sqlite:/srv/keys.sqlite /srv/dump
  monkeysphere-keyserver delete --block --reason "GDPR request 2026-12-01" 0123...CDEF

See monkeysphere-keyserver(1) and docs/design/keyserver.md.
`;

/** The store location `openStore` takes for a --store URL: `sqlite:PATH` becomes PATH. */
export function storeLocation(url: string | undefined, env: NodeJS.ProcessEnv, cwd: string): { location: string; isDefault: boolean } {
  const given = url ?? env.MONKEYSPHERE_KEYSERVER_STORE;
  if (given === undefined || given === '') return { location: join(env.MONKEYSPHERE_SYSDATADIR || '/var/lib/monkeysphere', 'keyserver.sqlite'), isDefault: true };
  if (isPostgresUrl(given)) return { location: given, isDefault: false };
  const path = given.replace(/^sqlite:(\/\/(?=\/))?/i, '');
  if (path === '') throw new UsageError('MS_HKP_STORE_URL', `no path in the store URL ${JSON.stringify(given)}`, { hints: ['give sqlite:PATH or postgres://USER@HOST/DB'] });
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new UsageError('MS_HKP_STORE_URL', `unknown store URL ${JSON.stringify(given)}`, { hints: ['give sqlite:PATH or postgres://USER@HOST/DB'] });
  }
  return { location: path.startsWith('/') ? path : join(cwd, path), isDefault: false };
}

/** `ADDR:PORT`, `[v6]:PORT`, `:PORT` or `PORT`. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new UsageError('MS_HKP_USAGE', `not an address to listen on: ${JSON.stringify(text)}`, { hints: ['give ADDR:PORT, for example 127.0.0.1:11371 or [::]:11371'] });
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

function positiveInt(name: string, text: string, min = 1): number {
  if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError('MS_HKP_USAGE', `${name} must be a whole number of at least ${min}, not ${JSON.stringify(text)}`);
  return Number(text);
}

interface Ctx {
  io: Io;
  log: Logger;
  global: GlobalOptions;
}

/** Opens the store and the keyserver service on it (with `windows`, when given), runs `body`, closes the store. */
async function withKeyserver<T>(ctx: Ctx, body: (ks: Keyserver, store: Store) => Promise<T>, windows?: UploadWindows): Promise<T> {
  const { location, isDefault } = storeLocation(ctx.global.store, ctx.io.env, ctx.io.cwd);
  if (isDefault) mkdirSync(dirname(location), { recursive: true, mode: 0o755 });
  const { openStore } = await import('../store/index.js');
  const { Keyserver } = await import('../server/keyserver.js');
  const store = await openStore(location);
  try {
    ctx.log.debug(`store: ${store.location}`);
    return await body(await Keyserver.open(store, {}, { windows }), store);
  } finally {
    await store.close();
  }
}

interface ServeOptions {
  listen: string;
  maxBody: string;
  maxConnections: string;
  maxResults: string;
  uploadBurst: string;
  uploadEvery: string;
  lookupBurst: string;
  lookupEvery: string;
  trustProxy?: boolean;
  wkdDomain?: string[];
  web: boolean;
  recon?: string;
  peers?: string;
  gossipInterval: string;
  reconFilters: string;
  workers: string;
}

interface ReconOptions {
  recon: string;
  peers: string;
  httpPort: string;
  gossipInterval: string;
  reconFilters: string;
}

/** The recon settings from the command line, checked before anything is opened. */
function reconArgs(opts: { recon?: string; peers?: string; gossipInterval: string; reconFilters: string }): { host: string; port: number; peers: string; gossipMs: number; filters: string[] } | undefined {
  if (opts.recon === undefined) {
    if (opts.peers !== undefined) throw new UsageError('MS_HKP_USAGE', '--peers needs --recon ADDR:PORT');
    return undefined;
  }
  if (opts.peers === undefined) throw new UsageError('MS_HKP_USAGE', '--recon needs --peers FILE (the membership file)');
  const { host, port } = parseListen(opts.recon);
  if (!/^\d+(\.\d+)?$/.test(opts.gossipInterval)) throw new UsageError('MS_HKP_USAGE', `--gossip-interval must be a number of seconds (0: never initiate), not ${JSON.stringify(opts.gossipInterval)}`);
  const filters = opts.reconFilters.split(',').map((f) => f.trim()).filter((f) => f !== '');
  if (filters.length === 0) throw new UsageError('MS_HKP_USAGE', '--recon-filters names no filter');
  return { host, port, peers: opts.peers, gossipMs: Math.round(Number(opts.gossipInterval) * 1000), filters };
}

/**
 * Reads the membership file and binds the recon address for `ks`'s store, announcing
 * `httpPort`; `start()` then catches the tree up and gossips. The caller closes it.
 * @throws InputError MS_RECON_MEMBERSHIP (a bad line: exit 3); EnvironmentError
 *   MS_RECON_MEMBERSHIP_IO, MS_RECON_LISTEN (exit 4).
 */
async function prepareRecon(ctx: Ctx, ks: Keyserver, args: NonNullable<ReturnType<typeof reconArgs>>, httpPort: number) {
  const { MembershipFile } = await import('../server/recon-peers.js');
  const { ReconService } = await import('../server/recon-service.js');
  const { reconTreesOf } = await import('../server/recon-tree.js');
  const peersPath = args.peers.startsWith('/') ? args.peers : join(ctx.io.cwd, args.peers);
  const membership = await new MembershipFile(peersPath, {
    onError: (err) => ctx.log.error(`${err.message}; the last good list stays in use`),
    onLoad: (peers) => ctx.log.verbose(`recon peers (${printable(peersPath)}): ${peers.map((p) => p.id).join(', ') || 'none'}`),
  }).open();
  const service = new ReconService({
    ks,
    trees: reconTreesOf(ks.store),
    membership,
    host: args.host,
    port: args.port,
    httpPort,
    filters: args.filters,
    gossipIntervalMs: args.gossipMs,
    log: ctx.log,
    now: () => referenceTime(ctx.io.env),
  });
  try {
    await service.listen();
  } catch (err) {
    await service.close();
    throw err;
  }
  return service;
}

/** Resolves at SIGTERM or SIGINT (logged). */
function untilSignal(ctx: Ctx): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      ctx.log.info(`${signal}: stopping`);
      resolve();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

async function cmdServe(ctx: Ctx, opts: ServeOptions): Promise<number> {
  const { host, port } = parseListen(opts.listen);
  const maxBodyBytes = positiveInt('--max-body', opts.maxBody, 1024);
  const maxConnections = positiveInt('--max-connections', opts.maxConnections);
  const maxResults = positiveInt('--max-results', opts.maxResults);
  const burst = positiveInt('--upload-burst', opts.uploadBurst, 0);
  const every = positiveInt('--upload-every', opts.uploadEvery, 0);
  const lookupBurst = positiveInt('--lookup-burst', opts.lookupBurst, 0);
  const lookupEvery = Number(opts.lookupEvery);
  if (!/^\d+(\.\d+)?$/.test(opts.lookupEvery) || (lookupBurst > 0 && lookupEvery <= 0)) throw new UsageError('MS_HKP_USAGE', `--lookup-every must be a positive number of seconds, not ${JSON.stringify(opts.lookupEvery)}`);
  const reconOpts = reconArgs(opts);
  const workers = positiveInt('--workers', opts.workers);
  // Each worker is a whole server (~80 MB): more than a few per core only costs memory.
  const mostWorkers = 4 * availableParallelism();
  if (workers > mostWorkers) throw new UsageError('MS_HKP_USAGE', `--workers ${workers} is more than ${mostWorkers} (4 per core)`, { hints: ['one worker per core answers the most'] });
  const uploadRate = burst === 0 ? false : { burst, perSecond: every === 0 ? burst : 1 / every };
  const { isWorker, superviseWorkers, workerLink } = await import('./keyserver-workers.js');
  if (workers > 1 && !isWorker()) return servePrimary(ctx, { listen: opts.listen, workers, uploadRate, reconOpts, superviseWorkers });
  const inWorker = isWorker();
  const { HkpServer } = await import('../hkp/server.js');
  const { Metrics } = await import('../hkp/metrics.js');
  const { EnvironmentError } = await import('../errors.js');
  const { reconStatusSection } = await import('../server/recon-status.js');
  let server: InstanceType<typeof HkpServer> | undefined;
  // A worker of `serve --workers`: uploads share the primary's buckets and windows, /metrics adds
  // up every worker's counters. The channel is closed however this ends: it would keep the process alive.
  let link: ReturnType<typeof workerLink> | undefined;
  if (inWorker) {
    const { LocalUploadWindows } = await import('../server/upload-windows.js');
    const { DEFAULT_POLICY } = await import('../server/ingest.js');
    link = workerLink(() => (server?.metrics ?? new Metrics()).snapshot(), new LocalUploadWindows(DEFAULT_POLICY));
  }
  try {
    return await withKeyserver(ctx, async (ks, store) => {
      server = new HkpServer({
        ks,
        now: () => referenceTime(ctx.io.env),
        log: ctx.log,
        maxBodyBytes,
        maxConnections,
        maxResults,
        uploadRate,
        readRate: lookupBurst === 0 ? false : { burst: lookupBurst, perSecond: 1 / lookupEvery },
        trustProxy: opts.trustProxy ?? false,
        // Off unless named: whoever uploads a key for an address would otherwise be its WKD answer.
        wkdDomains: opts.wkdDomain ?? [],
        web: opts.web ? undefined : false,
        version: version(),
        // Whichever process runs recon on this store, its peers' state is shown here.
        status: reconStatusSection(store),
        cluster: link,
      });
      const http = server;
      let bound: { address: string; port: number };
      try {
        bound = await http.listen(port, host);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new EnvironmentError('MS_HKP_LISTEN', `cannot listen on ${opts.listen}: ${e.code ?? e.message}`, {
          cause: err,
          hints: e.code === 'EADDRINUSE' ? ['another process uses this port; stop it or pick another with --listen'] : e.code === 'EACCES' ? ['ports below 1024 need root or CAP_NET_BIND_SERVICE'] : [],
        });
      }
      // A bad membership file or a recon port in use fails here, before anything is announced.
      let recon: Awaited<ReturnType<typeof prepareRecon>> | undefined;
      try {
        // The primary of `serve --workers` runs recon, once for all of them.
        if (reconOpts && !inWorker) recon = await prepareRecon(ctx, ks, reconOpts, bound.port);
      } catch (err) {
        await http.close(0);
        throw err;
      }
      if (inWorker) ctx.log.verbose(`worker ${process.pid} serving`);
      else ctx.log.info(`serving HKP on ${shownUrl(bound)} (store ${printable(store.location)}, ${await store.certs.count()} certificates)`);
      try {
        // Catches the tree up (a first build may take a while; HKP answers meanwhile) and starts gossiping.
        await recon?.start();
      } catch (err) {
        await recon?.close();
        await http.close(0);
        throw err;
      }
      await untilSignal(ctx);
      await recon?.close();
      await http.close(5000);
      if (inWorker) ctx.log.verbose(`worker ${process.pid} stopped`);
      else ctx.log.info('stopped');
      return EXIT.ok;
    }, link?.windows);
  } finally {
    link?.close();
  }
}

const shownUrl = (bound: { address: string; port: number }) => `http://${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}/`;

/**
 * `serve --workers N` in the primary process: the store opened (and migrated) once, N workers
 * started on the address (keyserver-workers.ts), recon run here when asked, and at SIGTERM or
 * SIGINT every worker stopped. A worker that cannot start (the address in use) ends the command
 * with its exit status, having said why.
 */
async function servePrimary(
  ctx: Ctx,
  w: {
    listen: string;
    workers: number;
    uploadRate: { burst: number; perSecond: number } | false;
    reconOpts: ReturnType<typeof reconArgs>;
    superviseWorkers: typeof import('./keyserver-workers.js').superviseWorkers;
  },
): Promise<number> {
  return withKeyserver(ctx, async (ks, store) => {
    const pool = w.superviseWorkers(w.workers, { uploadRate: w.uploadRate, windows: ks.windows, log: ctx.log });
    let bound: { address: string; port: number };
    try {
      bound = await pool.listening;
    } catch (code) {
      return typeof code === 'number' ? code : EXIT.environment;
    }
    let recon: Awaited<ReturnType<typeof prepareRecon>> | undefined;
    try {
      if (w.reconOpts) recon = await prepareRecon(ctx, ks, w.reconOpts, bound.port);
      ctx.log.info(`serving HKP on ${shownUrl(bound)} with ${w.workers} workers (store ${printable(store.location)}, ${await store.certs.count()} certificates)`);
      await recon?.start();
    } catch (err) {
      await recon?.close();
      await pool.stop(0);
      throw err;
    }
    const code = await Promise.race([untilSignal(ctx).then(() => EXIT.ok), pool.failed]);
    await recon?.close();
    await pool.stop(10_000);
    ctx.log.info('stopped');
    return code;
  });
}

async function cmdRecon(ctx: Ctx, opts: ReconOptions): Promise<number> {
  const args = reconArgs(opts);
  if (!args) throw new UsageError('MS_HKP_USAGE', 'recon needs --recon ADDR:PORT');
  const httpPort = positiveInt('--http-port', opts.httpPort);
  if (httpPort > 65535) throw new UsageError('MS_HKP_USAGE', `--http-port ${httpPort} is not a port`);
  return withKeyserver(ctx, async (ks, store) => {
    const recon = await prepareRecon(ctx, ks, args, httpPort);
    try {
      await recon.start();
    } catch (err) {
      await recon.close();
      throw err;
    }
    ctx.log.info(`recon for store ${printable(store.location)}; peers fetch from HTTP port ${httpPort}`);
    await untilSignal(ctx);
    await recon.close();
    ctx.log.info('stopped');
    return EXIT.ok;
  });
}

async function cmdPtreeRebuild(ctx: Ctx): Promise<number> {
  const { reconTreesOf } = await import('../server/recon-tree.js');
  const { DEFAULT_RECON_SETTINGS } = await import('../recon/ptree.js');
  const { location } = storeLocation(ctx.global.store, ctx.io.env, ctx.io.cwd);
  // A tree of an empty store is no use: a path that names no store is a mistake, not a new store.
  if (!isPostgresUrl(location) && !existsSync(location)) {
    const { EnvironmentError } = await import('../errors.js');
    throw new EnvironmentError('MS_STORE_IO', `no store at ${printable(location)}: ptree-rebuild rebuilds the tree of an existing store`, {
      data: { location },
      hints: ['give the --store of the serve process (ptree-rebuild does not create a store)'],
    });
  }
  return withKeyserver(ctx, async (_ks, store) => {
    const started = performance.now();
    const tree = await reconTreesOf(store).open(DEFAULT_RECON_SETTINGS);
    const n = await tree.rebuild();
    ctx.log.info(`recon prefix tree rebuilt: ${n} digests at change ${await tree.seq()} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return EXIT.ok;
  });
}

async function cmdImport(ctx: Ctx, files: string[], opts: { resume?: boolean; workers?: string; batch?: string }): Promise<number> {
  const workers = opts.workers === undefined ? undefined : positiveInt('--workers', opts.workers, 0);
  const batchSize = opts.batch === undefined ? undefined : positiveInt('--batch', opts.batch);
  const { importFiles } = await import('../server/bulk.js');
  const tty = ctx.io.stderr.isTTY === true;
  let lastDrawn = 0;
  const started = performance.now();
  return withKeyserver(ctx, async (ks) => {
    const report = await importFiles(ks, files, {
      now: referenceTime(ctx.io.env),
      resume: opts.resume,
      workers,
      batchSize,
      onProgress: (done, total) => {
        if (!tty) return;
        const t = performance.now();
        if (done < total && t - lastDrawn < 100) return;
        lastDrawn = t;
        const width = 30;
        const filled = total === 0 ? width : Math.round((done / total) * width);
        const rate = done / Math.max(0.001, (t - started) / 1000);
        ctx.io.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} certificates, ${rate.toFixed(0)}/s `);
        if (done === total) ctx.io.stderr.write('\n');
      },
    });
    const seconds = (performance.now() - started) / 1000;
    for (const f of report.files) ctx.log.verbose(`${printable(f.file)}: ${f.certs} certificates${f.resumedAt > 0 ? ` (resumed after ${f.resumedAt})` : ''}`);
    const statuses = Object.entries(report.status)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
    ctx.log.info(`imported ${report.certs} certificates from ${report.files.length} file(s) in ${seconds.toFixed(1)} s${statuses ? `: ${statuses}` : ''}; ${report.held} certifications held aside, ${report.released} released`);
    const dropped = Object.entries(report.dropped);
    if (dropped.length > 0) ctx.log.verbose(`dropped: ${dropped.map(([k, v]) => `${v} ${k}`).join(', ')}`);
    return EXIT.ok;
  });
}

async function cmdDump(ctx: Ctx, dir: string, opts: { perFile?: string; prefix?: string }): Promise<number> {
  const certsPerFile = opts.perFile === undefined ? undefined : positiveInt('--per-file', opts.perFile);
  const { dumpStore } = await import('../server/bulk.js');
  return withKeyserver(ctx, async (_ks, store) => {
    const out = await dumpStore(store, dir.startsWith('/') ? dir : join(ctx.io.cwd, dir), { certsPerFile, prefix: opts.prefix });
    for (const f of out.files) ctx.io.stdout.write(`${f}\n`);
    ctx.log.info(`dumped ${out.certs} certificates into ${out.files.length} file(s) in ${printable(dir)}`);
    return EXIT.ok;
  });
}

function fingerprintArg(text: string) {
  try {
    return parseFingerprint(text);
  } catch (err) {
    throw new UsageError('MS_HKP_USAGE', `not a fingerprint: ${JSON.stringify(text)}`, { cause: err, hints: ['give the whole fingerprint, 40 (v4) or 64 (v6) hex digits'] });
  }
}

/**
 * Runs monkeysphere-keyserver with `argv` (without the program name).
 * @returns the exit status (see --help).
 */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  return runCommand(TOOL, io, async () => {
    let status: number = EXIT.ok;
    const program = new Command(TOOL)
      .exitOverride()
      .helpCommand(true)
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
      .showHelpAfterError(`(run '${TOOL} --help' for usage)`)
      .description(DESCRIPTION)
      .option('--store <url>', 'the store: sqlite:PATH or postgres://... (default $MONKEYSPHERE_KEYSERVER_STORE, else /var/lib/monkeysphere/keyserver.sqlite)')
      .addHelpText('after', AFTER);
    const ctx = (): Ctx => ({ io, log: loggerFor(io), global: program.opts<GlobalOptions>() });
    const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

    program
      .command('serve')
      .description('answer HKP, HKP v2, VKS, WKD and the web pages until SIGTERM or SIGINT')
      .option('--listen <addr:port>', 'address and port to listen on', DEFAULT_LISTEN)
      .option('--max-body <bytes>', 'largest request body; larger ones get 413', String(16 * 1024 * 1024))
      .option('--max-connections <n>', 'most open connections; more are refused', '1024')
      .option('--max-results <n>', 'most certificates in one answer', '100')
      .option('--upload-burst <n>', 'uploads a client may make at once (0: no limit)', '20')
      .option('--upload-every <seconds>', 'then one upload per this many seconds', '2')
      .option('--lookup-burst <n>', 'lookups a client may make at once (0: no limit)', '0')
      .option('--lookup-every <seconds>', 'then one lookup per this many seconds (a fraction is fine)', '0.01')
      .option('--trust-proxy', 'take the client address from X-Forwarded-For (behind a reverse proxy)')
      .option('--wkd-domain <domain>', 'serve WKD for this domain (repeatable; default: none, since anyone can upload a key for any address)', collect)
      .option('--no-web', 'no web pages: a plain-text page at /')
      .option('--recon <addr:port>', 'also run recon (SKS set reconciliation) on this address and port (SKS uses 11370); needs --peers')
      .option('--peers <file>', "the recon membership file, SKS's format: 'host port' per line, # comments; reread when it changes")
      .option('--gossip-interval <seconds>', 'seconds between syncs with a random peer (0: only answer peers)', '60')
      .option('--recon-filters <list>', 'filters announced to recon peers; peers must announce the same set', RECON_FILTERS)
      .option('--workers <n>', 'server processes sharing the address (one per core answers the most)', '1')
      .action(async (opts: ServeOptions) => {
        status = await cmdServe(ctx(), opts);
      });
    program
      .command('recon')
      .description('run recon alone, beside a serve process on the same store (as sks recon beside sks db)')
      .requiredOption('--recon <addr:port>', 'address and port to listen on for recon (SKS uses 11370); outgoing recon connects from this address')
      .requiredOption('--peers <file>', "the membership file, SKS's format: 'host port' per line, # comments; reread when it changes")
      .requiredOption('--http-port <port>', 'the HKP port of the serve process, announced to peers: they fetch keys from there')
      .option('--gossip-interval <seconds>', 'seconds between syncs with a random peer (0: only answer peers)', '60')
      .option('--recon-filters <list>', 'filters announced to recon peers; peers must announce the same set', RECON_FILTERS)
      .action(async (opts: ReconOptions) => {
        status = await cmdRecon(ctx(), opts);
      });
    program
      .command('ptree-rebuild')
      .description("rebuild the recon prefix tree from the stored certificates' digests (SKS: sks pbuild)")
      .addHelpText(
        'after',
        `
Seldom needed: serve --recon and recon build the tree on their first start and catch it up
from the store's changes, rebuilding it by themselves after a large backlog. Rebuilding is
safe while recon runs on the same store (a session under way may disagree with its peer on a
prefix and sync again later). The store must exist: a --store that names no store is refused
(exit 4) rather than created empty.`,
      )
      .action(async () => {
        status = await cmdPtreeRebuild(ctx());
      });
    program
      .command('import')
      .description('load keyrings or SKS/Hockeypuck dump files through the ingest policy (every signature verified)')
      .argument('<files...>')
      .option('--resume', 'skip what an interrupted import of the same unchanged file already stored')
      .option('--workers <n>', "verifying worker threads (default: one less than the CPUs; 0: libuv's thread pool)")
      .option('--batch <n>', 'certificates per store transaction (default 200)')
      .action(async (files: string[], opts: { resume?: boolean; workers?: string; batch?: string }) => {
        status = await cmdImport(ctx(), files, opts);
      });
    program
      .command('dump')
      .description('write every stored certificate into numbered files SKS and Hockeypuck can load')
      .argument('<dir>')
      .option('--per-file <n>', 'certificates per file (default 15000)')
      .option('--prefix <name>', 'file name prefix (default hkp-dump)')
      .action(async (dir: string, opts: { perFile?: string; prefix?: string }) => {
        status = await cmdDump(ctx(), dir, opts);
      });
    program
      .command('delete')
      .description('remove a certificate; with --block, later uploads of it are refused')
      .argument('<fingerprint>')
      .option('--block', 'also put it on the blocklist')
      .option('--reason <text>', 'why (kept with the blocklist entry; without it, a key already blocked keeps its reason)')
      .action(async (fpr: string, opts: { block?: boolean; reason?: string }) => {
        const c = ctx();
        const f = fingerprintArg(fpr);
        status = await withKeyserver(c, async (ks) => {
          const removed = await ks.delete(f, { now: referenceTime(io.env), block: opts.block, reason: opts.reason });
          if (removed) c.log.info(`deleted ${f}${opts.block ? ' and blocked it' : ''}`);
          else c.log.info(`${f} is not in the store${opts.block ? '; blocked it' : ''}`);
          return removed || opts.block ? EXIT.ok : EXIT.no;
        });
      });
    program
      .command('block')
      .description('refuse uploads of a certificate from now on (and delete it)')
      .argument('<fingerprint>')
      .requiredOption('--reason <text>', 'why (kept with the entry)')
      .action(async (fpr: string, opts: { reason: string }) => {
        const c = ctx();
        const f = fingerprintArg(fpr);
        status = await withKeyserver(c, async (ks) => {
          await ks.block(f, opts.reason, referenceTime(io.env));
          c.log.info(`blocked ${f}`);
          return EXIT.ok;
        });
      });
    program
      .command('unblock')
      .description('take a certificate off the blocklist (it is not restored: upload it again)')
      .argument('<fingerprint>')
      .action(async (fpr: string) => {
        const c = ctx();
        const f = fingerprintArg(fpr);
        status = await withKeyserver(c, async (ks) => {
          const was = await ks.unblock(f, referenceTime(io.env));
          c.log.info(was ? `unblocked ${f}` : `${f} was not blocked`);
          return was ? EXIT.ok : EXIT.no;
        });
      });
    program
      .command('blocklist')
      .description('list blocked fingerprints: FINGERPRINT<TAB>SINCE<TAB>REASON')
      .action(async () => {
        status = await withKeyserver(ctx(), async (ks) => {
          for (const e of await ks.blocklist()) io.stdout.write(`${e.fpr}\t${new Date(e.since * 1000).toISOString()}\t${printable(e.reason)}\n`);
          return EXIT.ok;
        });
      });
    program
      .command('version')
      .description('show the version number')
      .action(() => {
        io.stdout.write(`${version()}\n`);
      });

    await program.parseAsync(argv, { from: 'user' });
    return status;
  });
}
