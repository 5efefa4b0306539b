/**
 * Recon between two of our keyservers against the same sync between two SKS 1.1.6 nodes,
 * side by side in one run (issue 14, "Benchmark").
 *
 * Data. N certificates in all, D of them differing: node A lacks D/2 that B holds and B lacks
 * D/2 others that A holds. The certificates come from test/helpers/flood.ts
 * `syntheticKeyring` (cached in the temp directory), where each certificate is certified by the
 * two before it. A certification whose issuer a store lacks is held aside by our ingest and is
 * not part of the certificate's SKS digest, so a random split would make our stores differ in
 * about 3·D digests against SKS's D. The differences are therefore closed under certification:
 * chain X (N − D/2 certificates) whose last D/2 only B has, and chain Y (D/2 certificates, its
 * own seed) that only A has. Both pairs start with exactly D differing digests (for ours this
 * is counted from the two stores before the servers start).
 *
 * Setup, timed apart and not part of the sync: each keyring file goes
 * - to SKS by `sks build FILE` then `sks pbuild` (recon's prefix tree), whole processes under
 *   GNU time;
 * - to ours by `monkeysphere-keyserver --store sqlite:PATH import FILE`, then
 *   `monkeysphere-keyserver --store sqlite:PATH ptree-rebuild` (SKS's pbuild), each a whole
 *   process under GNU time; then `serve --recon` is timed until both answer HKP.
 *
 * Sync. Each pair runs on 127.0.0.1 (A) and 127.0.0.2 (B), every process started and stopped by
 * PID here, ours without NODE_EXTRA_CA_CERTS, both with the same gossip interval (--gossip,
 * default 2 s; SKS's default is 60 s). Nodes start with empty membership files; once both
 * answer, each gets the other in its membership file and gossip begins. Bytes are counted by
 * TCP taps in this process, since there is no iptables here:
 * - recon: each node's membership names the peer's tap port (127.0.0.X, another port), which
 *   forwards to the peer's recon port and connects from the client's own address, so the
 *   peer's membership check (by address) passes unchanged;
 * - hashquery: a node fetches from the peer's address (that of the recon connection) and the
 *   HTTP port it announced, so each HKP server listens on 127.0.1.X:P and the tap on
 *   127.0.0.X:P. The benchmark's own lookups go to 127.0.1.X directly and are not counted.
 * The sync time runs from the first recon connection (at a tap) until both nodes have stored
 * every certificate they lacked, polled every 100 ms by cheap counters that add no load to the
 * servers: for SKS the keys `sks db` logged adding ("Adding hash" in db.log), for ours
 * `op=stats&options=mr` numkeys (a count in the store) minus the count before. (Polling the
 * missing fingerprints with `op=get` instead queues behind our single-threaded server's ingest
 * and added seconds to ours.) Then each node must serve all it lacked (`op=get`). Bytes, sessions (recon
 * connections), hashquery requests and the servers' CPU since gossip was enabled
 * (/proc/PID/stat; SKS: db + recon) are read at that moment; also each connection's opening
 * time and bytes, and the first session's bytes alone (two nodes whose timers fire together
 * may run two sessions at once). Then both nodes of each pair are checked for all N certificates
 * (`op=get` on every fingerprint; for ours also the two stores' digest sets, which must be
 * equal). The load average is printed: the machine is shared.
 * Exits 1 when a pair does not converge within --timeout or holds the wrong set.
 *
 * Usage: env -u NODE_EXTRA_CA_CERTS node --import tsx bench/recon.bench.ts
 *          [--certs N] [--diff D] [--timeout S] [--gossip S] [--only sks|ours] [--built] [--json FILE]
 * --certs: certificates in all (default 100,000); --diff: differences, even (default 1,000);
 * --timeout: seconds each pair may take to converge (default 600); --gossip: seconds between
 * gossips on every node (default 2); --only: run one pair; --built: bin/monkeysphere-keyserver.js
 * (`npm run build` first) instead of the sources through tsx; --json: the results as JSON too.
 * Other arguments, such as those scripts/bench.sh passes to every benchmark, are ignored.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cert, readCerts } from '../src/openpgp/cert.js';
import { openStore } from '../src/store/index.js';
import { syntheticKeyring } from '../test/helpers/flood.js';
import { freePort } from '../test/helpers/sks.js';
import { childEnv, keyserverCommand, procCpu, ROOT, timed } from './processes.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const CERTS = Number(arg('certs', '100000'));
const DIFF = Number(arg('diff', '1000'));
const TIMEOUT_S = Number(arg('timeout', '600'));
const GOSSIP_S = Number(arg('gossip', '2'));
const ONLY = arg('only', '');
const BUILT = argv.includes('--built');
const JSON_OUT = arg('json', '');
const SKS = '/usr/sbin/sks';
const HALF = DIFF / 2;

const say = (s: string) => process.stderr.write(`bench: ${s}\n`);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const addrOf = (node: number) => `127.0.0.${node}`;
/** Where a node's HKP server really listens: its tap has the node's address. */
const hkpAddrOf = (node: number) => `127.0.1.${node}`;

// --- processes ------------------------------------------------------------------------

/** User + system CPU seconds of a running process, from /proc; NaN once it has gone. */
function procCpuS(pid: number): number {
  try {
    return procCpu(pid).cpuS;
  } catch {
    return Number.NaN;
  }
}

/** A long-running process, stopped by PID (SIGTERM, then SIGKILL after 10 s). */
class Proc {
  private tail = '';
  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (d: Buffer) => {
      this.tail = (this.tail + d.toString('utf8')).slice(-16 * 1024);
    });
    child.stdout?.resume();
  }

  get pid(): number {
    return this.child.pid!;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  get stderr(): string {
    return this.tail;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (this.exited || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exited && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(timer);
  }
}

const running = new Set<Proc>();
function startProc(name: string, cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = new Proc(name, child);
  running.add(p);
  return p;
}
async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
  running.clear();
}

// --- taps ---------------------------------------------------------------------------------

/**
 * A TCP forwarder that counts bytes each way and connections. It connects upstream from the
 * client's own address, so the server sees the address it would have seen without the tap.
 */
class Tap {
  conns = 0;
  up = 0;
  down = 0;
  /** Requests seen (`POST /pks/hashquery`), for HKP taps. */
  hashqueries = 0;
  firstAt: number | undefined;
  /** Each connection: when it opened, and its bytes each way so far (for the timeline). */
  readonly log: Array<{ at: number; up: number; down: number }> = [];
  private server: NetServer | undefined;
  private readonly sockets = new Set<Socket>();
  private carry = '';

  constructor(
    readonly label: string,
    readonly host: string,
    readonly port: number,
    readonly toHost: string,
    readonly toPort: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer({ allowHalfOpen: true }, (client) => this.forward(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
  }

  private forward(client: Socket): void {
    this.conns++;
    this.firstAt ??= performance.now();
    const entry = { at: performance.now(), up: 0, down: 0 };
    this.log.push(entry);
    const upstream = connect({ host: this.toHost, port: this.toPort, localAddress: client.remoteAddress, allowHalfOpen: true });
    for (const s of [client, upstream]) this.sockets.add(s);
    client.on('data', (d: Buffer) => {
      this.up += d.length;
      entry.up += d.length;
      // Requests may span chunks: keep the last bytes of the previous one.
      const text = this.carry + d.toString('latin1');
      this.hashqueries += text.split('POST /pks/hashquery').length - 1;
      this.carry = text.slice(-24);
    });
    upstream.on('data', (d: Buffer) => {
      this.down += d.length;
      entry.down += d.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const tie = (a: Socket, b: Socket) => {
      a.on('error', () => b.destroy());
      a.on('close', (hadError) => {
        this.sockets.delete(a);
        if (hadError) b.destroy();
        else b.end();
      });
    };
    tie(client, upstream);
    tie(upstream, client);
  }

  snapshot(): { conns: number; bytes: number; up: number; down: number; hashqueries: number } {
    return { conns: this.conns, bytes: this.up + this.down, up: this.up, down: this.down, hashqueries: this.hashqueries };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

// --- HKP checks ------------------------------------------------------------------------------

async function has(base: string, fpr: string): Promise<boolean> {
  const res = await fetch(`${base}/pks/lookup?op=get&options=mr&search=0x${fpr}`, { signal: AbortSignal.timeout(30_000) });
  await res.arrayBuffer();
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw new Error(`${base}: get 0x${fpr}: HTTP ${res.status}`);
}

/**
 * Polls `stored` every 100 ms until it reaches `want`; resolves with the moment it did. The
 * counters are cheap (a log file, one stats request), so polling does not load the servers
 * while they sync; what they report is checked by HKP afterwards.
 */
async function waitForCount(what: string, stored: () => Promise<number>, want: number, deadline: number, alive: () => void): Promise<number> {
  let n = 0;
  for (;;) {
    alive();
    n = await stored().catch(() => n);
    if (n >= want) return performance.now();
    if (performance.now() > deadline) throw new Error(`${what} has stored ${n} of the ${want} certificates it lacked after ${TIMEOUT_S} s`);
    await sleep(100);
  }
}

/** Fingerprints `base` does not serve, with a few requests in flight. */
async function absent(base: string, fprs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < fprs.length) {
        const f = fprs[next++];
        if (!(await has(base, f))) out.push(f);
      }
    }),
  );
  return out;
}

async function waitHttp(base: string, path: string, seconds: number, procs: Proc[]): Promise<void> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    for (const p of procs) if (p.exited) throw new Error(`${p.name} exited: ${p.stderr.slice(-2000)}`);
    try {
      const res = await fetch(base + path, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 404) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > until) throw new Error(`${base} did not answer within ${seconds} s: ${procs.map((p) => p.stderr.slice(-1500)).join('\n')}`);
    await sleep(200);
  }
}

/** Whether something listens on host:port (IPv4), from /proc/net/tcp: no connection made. */
function listening(host: string, port: number): boolean {
  const ip = host
    .split('.')
    .map((b) => Number(b).toString(16).padStart(2, '0').toUpperCase())
    .reverse()
    .join('');
  const local = `${ip}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === local && f[3] === '0A';
    });
}

/** Writes a membership file with a new mtime: SKS and ours reread it when the mtime moves. */
function writeMembership(file: string, lines: string[]): void {
  writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
  const t = new Date(Date.now() + 2000);
  utimesSync(file, t, t);
}

// --- the pairs ------------------------------------------------------------------------------

interface SetupRow {
  pair: 'SKS 1.1.6' | 'ours';
  node: 'A' | 'B';
  step: string;
  wallS: number;
  cpuS: number;
  maxRssMb: number;
}

interface SyncResult {
  pair: 'SKS 1.1.6' | 'ours';
  /** Digests differing before the sync (ours: counted in the stores; SKS: by construction). */
  differencesBefore: number;
  syncS: number;
  /** When each node had all it lacked, from the first session. */
  doneAS: number;
  doneBS: number;
  /** The first recon connection's bytes: one session's cost, whatever else gossip did. */
  firstSessionBytes: number;
  /** From membership written to the first recon connection (the wait for the first gossip). */
  firstSessionAfterS: number;
  sessions: number;
  /** Recon connections the tapped node answered at all (SKS ignores attempts while it recovers). */
  answered: number;
  reconBytes: number;
  hashqueryRequests: number;
  hashqueryConnections: number;
  hashqueryBytes: number;
  serverCpuS: number;
  loadAtStart: string;
  loadAtEnd: string;
  wrongSet: string[];
  notes: string[];
}

interface Plan {
  work: string;
  fileA: string;
  fileB: string;
  all: string[];
  /** What A lacks (B has), and what B lacks. */
  missingA: string[];
  missingB: string[];
}

/** The taps of one pair: recon and HKP for A (node 1) and B (node 2). */
async function tapsFor(reconPort: [number, number], hkpPort: [number, number]): Promise<{ recon: Tap[]; hkp: Tap[]; reconTapPort: [number, number] }> {
  const reconTapPort: [number, number] = [await freePort(), await freePort()];
  const recon = [1, 2].map((n) => new Tap(`recon→${n === 1 ? 'A' : 'B'}`, addrOf(n), reconTapPort[n - 1], addrOf(n), reconPort[n - 1]));
  const hkp = [1, 2].map((n) => new Tap(`hkp→${n === 1 ? 'A' : 'B'}`, addrOf(n), hkpPort[n - 1], hkpAddrOf(n), hkpPort[n - 1]));
  for (const t of [...recon, ...hkp]) await t.start();
  return { recon, hkp, reconTapPort };
}

/**
 * Enables gossip (membership files naming the peer's tap), waits for convergence, reads the
 * taps and CPU at that moment, then checks every fingerprint on both nodes.
 */
async function measureSync(
  pair: SyncResult['pair'],
  plan: Plan,
  membership: [string, string],
  taps: { recon: Tap[]; hkp: Tap[]; reconTapPort: [number, number] },
  pids: () => number[],
  procs: Proc[],
  differencesBefore: number,
  /** How many certificates node 1 (A) or 2 (B) has stored since it started. */
  stored: (node: 1 | 2) => Promise<number>,
): Promise<SyncResult> {
  const cpu0 = pids().map(procCpuS);
  const loadAtStart = load();
  const enabled = performance.now();
  writeMembership(membership[0], [`${addrOf(2)} ${taps.reconTapPort[1]}`]);
  writeMembership(membership[1], [`${addrOf(1)} ${taps.reconTapPort[0]}`]);
  say(`${pair}: gossip enabled (every ${GOSSIP_S} s); waiting for ${fmt(plan.missingA.length)} + ${fmt(plan.missingB.length)} certificates; load ${loadAtStart}`);
  const deadline = enabled + TIMEOUT_S * 1000;
  const alive = () => {
    for (const p of procs) if (p.exited) throw new Error(`${p.name} exited: ${p.stderr.slice(-2000)}`);
  };
  const [doneA, doneB] = await Promise.all([
    waitForCount(`${pair} A`, () => stored(1), plan.missingA.length, deadline, alive),
    waitForCount(`${pair} B`, () => stored(2), plan.missingB.length, deadline, alive),
  ]);
  const done = Math.max(doneA, doneB);
  const snap = [...taps.recon, ...taps.hkp].map((t) => t.snapshot());
  const cpu1 = pids().map(procCpuS);
  const loadAtEnd = load();
  const first = Math.min(...taps.recon.map((t) => t.firstAt ?? Number.POSITIVE_INFINITY));
  const recon = snap.slice(0, 2);
  const hkp = snap.slice(2);
  const timeline = [...taps.recon, ...taps.hkp]
    .flatMap((t) => t.log.filter((e) => e.at <= done).map((e) => ({ ...e, label: t.label })))
    .sort((a, b) => a.at - b.at)
    .map((e) => `${((e.at - first) / 1000).toFixed(2)} s ${e.label} ${e.up}/${e.down} B`);
  const result: SyncResult = {
    pair,
    differencesBefore,
    syncS: (done - first) / 1000,
    doneAS: (doneA - first) / 1000,
    doneBS: (doneB - first) / 1000,
    firstSessionBytes: (() => {
      const e = taps.recon.flatMap((t) => t.log).sort((a, b) => a.at - b.at)[0];
      return e ? e.up + e.down : 0;
    })(),
    firstSessionAfterS: (first - enabled) / 1000,
    sessions: recon.reduce((n, s) => n + s.conns, 0),
    answered: taps.recon.flatMap((t) => t.log).filter((e) => e.at <= done && e.down > 0).length,
    reconBytes: recon.reduce((n, s) => n + s.bytes, 0),
    hashqueryRequests: hkp.reduce((n, s) => n + s.hashqueries, 0),
    hashqueryConnections: hkp.reduce((n, s) => n + s.conns, 0),
    hashqueryBytes: hkp.reduce((n, s) => n + s.bytes, 0),
    serverCpuS: cpu1.reduce((n, c, i) => n + c - cpu0[i], 0),
    loadAtStart,
    loadAtEnd,
    wrongSet: [],
    notes: [
      `connections until then (opened at, tap, bytes to/from the tapped server): ${timeline.slice(0, 40).join('; ')}${timeline.length > 40 ? `; … ${timeline.length - 40} more` : ''}`,
    ],
  };
  say(
    `${pair}: converged in ${result.syncS.toFixed(2)} s (first session ${result.firstSessionAfterS.toFixed(1)} s after gossip was enabled), ${result.sessions} sessions, recon ${fmt(result.reconBytes)} B, hashquery ${result.hashqueryRequests} requests ${fmt(result.hashqueryBytes)} B, CPU ${result.serverCpuS.toFixed(2)} s; load ${loadAtEnd}`,
  );
  // What they lacked, then the whole set, on both nodes, outside the timed part.
  for (const n of [1, 2]) {
    const lacking = await absent(`http://${hkpAddrOf(n)}:${taps.hkp[n - 1].port}`, n === 1 ? plan.missingA : plan.missingB);
    if (lacking.length > 0) result.wrongSet.push(`node ${n === 1 ? 'A' : 'B'} counted all it lacked but does not serve ${lacking.length} of them`);
  }
  for (const n of [1, 2]) {
    const lacking = await absent(`http://${hkpAddrOf(n)}:${taps.hkp[n - 1].port}`, plan.all);
    if (lacking.length > 0) result.wrongSet.push(`node ${n === 1 ? 'A' : 'B'} lacks ${lacking.length} of ${plan.all.length}, e.g. ${lacking.slice(0, 3).join(' ')}`);
  }
  say(`${pair}: every certificate on both nodes: ${result.wrongSet.length === 0 ? 'yes' : result.wrongSet.join('; ')}`);
  return result;
}

/** A fresh SKS base directory: HKP on 127.0.1.X:hkp (its tap on 127.0.0.X:hkp), recon on 127.0.0.X:recon. */
function sksBase(dir: string, node: number, hkp: number, recon: number): string {
  for (const d of ['etc/sks', 'var/lib/sks/www', 'var/log/sks', 'var/run/sks', 'var/spool/sks', 'dump']) mkdirSync(join(dir, d), { recursive: true });
  const conf = [
    'hostname: localhost',
    `hkp_address: ${hkpAddrOf(node)}`,
    `hkp_port: ${hkp}`,
    `recon_address: ${addrOf(node)}`,
    `recon_port: ${recon}`,
    'disable_mailsync:',
    // Minutes, as a float.
    `gossip_interval: ${GOSSIP_S / 60}`,
  ];
  writeFileSync(join(dir, 'etc/sks/sksconf'), `${conf.join('\n')}\n`);
  const membership = join(dir, 'etc/sks/membership');
  writeFileSync(membership, '');
  return membership;
}

function sksLog(dir: string, what: string): string {
  for (const f of [join(dir, `var/log/sks/${what}.log`), join(dir, `${what}.log`)]) {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      // Try the other place.
    }
  }
  return '';
}

async function runSks(plan: Plan, setup: SetupRow[]): Promise<SyncResult> {
  const dirs = [join(plan.work, 'sks-a'), join(plan.work, 'sks-b')];
  const hkp: [number, number] = [await freePort(), await freePort()];
  const recon: [number, number] = [await freePort(), await freePort()];
  const membership = [1, 2].map((n) => sksBase(dirs[n - 1], n, hkp[n - 1], recon[n - 1])) as [string, string];
  for (const n of [1, 2]) {
    const dir = dirs[n - 1];
    const node = n === 1 ? 'A' : 'B';
    const build = timed(SKS, ['build', n === 1 ? plan.fileA : plan.fileB, '-n', '10', '-cache', '100', '-basedir', dir], { cwd: dir, tmp: plan.work });
    if (build.status !== 0) throw new Error(`sks build failed (${build.status}): ${build.stderr.slice(-2000)}`);
    setup.push({ pair: 'SKS 1.1.6', node, step: 'sks build', wallS: build.wallS, cpuS: build.cpuS, maxRssMb: build.maxRssMb });
    const pbuild = timed(SKS, ['pbuild', '-cache', '20', '-ptree_cache', '70', '-basedir', dir], { cwd: dir, tmp: plan.work });
    if (pbuild.status !== 0) throw new Error(`sks pbuild failed (${pbuild.status}): ${pbuild.stderr.slice(-2000)}`);
    setup.push({ pair: 'SKS 1.1.6', node, step: 'sks pbuild', wallS: pbuild.wallS, cpuS: pbuild.cpuS, maxRssMb: pbuild.maxRssMb });
    say(`SKS ${node}: build ${build.wallS.toFixed(1)} s, pbuild ${pbuild.wallS.toFixed(1)} s`);
  }
  const taps = await tapsFor(recon, hkp);
  const procs: Proc[] = [];
  try {
    for (const n of [1, 2]) {
      const dir = dirs[n - 1];
      const db = startProc(`sks db ${n}`, SKS, ['db', '-basedir', dir], { cwd: dir, env: childEnv() });
      procs.push(db);
      await waitHttp(`http://${hkpAddrOf(n)}:${hkp[n - 1]}`, '/pks/lookup?op=index&options=mr&search=ready', 300, [db]);
      const rc = startProc(`sks recon ${n}`, SKS, ['recon', '-basedir', dir], { cwd: dir, env: childEnv() });
      procs.push(rc);
      const until = Date.now() + 300_000;
      while (!listening(addrOf(n), recon[n - 1])) {
        if (rc.exited) throw new Error(`sks recon ${n} exited: ${sksLog(dir, 'recon').slice(-2000)}`);
        if (Date.now() > until) throw new Error(`sks recon ${n} not ready: ${sksLog(dir, 'recon').slice(-2000)}`);
        await sleep(100);
      }
    }
    // sks db logs each key it adds ("Adding hash"); only recon adds any here.
    const added = async (n: 1 | 2) => sksLog(dirs[n - 1], 'db').split('Adding hash').length - 1;
    const result = await measureSync('SKS 1.1.6', plan, membership, taps, () => procs.map((p) => p.pid), procs, DIFF, added);
    const recovered = dirs.map((d) => [...sksLog(d, 'recon').matchAll(/(\d+) hashes recovered/g)].map((m) => Number(m[1])));
    if (process.env.BENCH_DEBUG) for (const d of dirs) say(`${d}:\n${sksLog(d, 'recon').split('\n').filter((l) => !/No gossip partners/.test(l)).slice(-40).join('\n')}\n${sksLog(d, 'db').split('\n').slice(-20).join('\n')}`);
    result.notes.push(`"hashes recovered" in the recon logs: A ${JSON.stringify(recovered[0])}, B ${JSON.stringify(recovered[1])}`);
    return result;
  } finally {
    for (const p of procs) {
      await p.stop();
      running.delete(p);
    }
    for (const t of [...taps.recon, ...taps.hkp]) await t.close();
  }
}

// --- ours -----------------------------------------------------------------------------------

/** The stored digests of an SQLite store, hex (read with the servers stopped). */
async function storeDigests(path: string): Promise<Set<string>> {
  const store = await openStore(path);
  try {
    const out = new Set<string>();
    for await (const d of store.digests.digests()) out.add(d.toString('hex'));
    return out;
  } finally {
    await store.close();
  }
}

function symmetricDifference(a: Set<string>, b: Set<string>): number {
  let n = 0;
  for (const x of a) if (!b.has(x)) n++;
  for (const x of b) if (!a.has(x)) n++;
  return n;
}

/** What the command offers, from its help: whether serve takes --recon, and the tree rebuild command. */
function oursCapabilities(): { serveRecon: boolean; rebuild: string[] | undefined; help: string } {
  const [cmd, args] = keyserverCommand(['serve', '--help'], { built: BUILT });
  const serve = spawnSync(cmd, [...args], { cwd: ROOT, env: childEnv(), encoding: 'utf8' });
  const [cmd2, args2] = keyserverCommand(['--help'], { built: BUILT });
  const top = spawnSync(cmd2, [...args2], { cwd: ROOT, env: childEnv(), encoding: 'utf8' });
  const help = `${top.stdout}${top.stderr}`;
  // SKS's pbuild; without it the server's catch-up at start builds the tree (in "serve start").
  const rebuild = /^\s+ptree-rebuild\b/m.test(help) ? ['ptree-rebuild'] : undefined;
  return { serveRecon: /--recon\b/.test(`${serve.stdout}${serve.stderr}`), rebuild, help };
}

async function runOurs(plan: Plan, setup: SetupRow[]): Promise<SyncResult> {
  const caps = oursCapabilities();
  if (!caps.serveRecon) throw new Error(`monkeysphere-keyserver serve has no --recon (src/cli/monkeysphere-keyserver.ts): ${caps.help.slice(0, 300)}`);
  const stores = [join(plan.work, 'ours-a.sqlite'), join(plan.work, 'ours-b.sqlite')];
  for (const n of [1, 2]) {
    const node = n === 1 ? 'A' : 'B';
    const [cmd, args] = keyserverCommand(['--store', `sqlite:${stores[n - 1]}`, 'import', n === 1 ? plan.fileA : plan.fileB], { built: BUILT });
    const imp = timed(cmd, args, { tmp: plan.work, env: childEnv({ MONKEYSPHERE_LOG_LEVEL: 'INFO' }) });
    if (imp.status !== 0) throw new Error(`monkeysphere-keyserver import failed (${imp.status}): ${imp.stderr.slice(-2000)}`);
    setup.push({ pair: 'ours', node, step: 'monkeysphere-keyserver import', wallS: imp.wallS, cpuS: imp.cpuS, maxRssMb: imp.maxRssMb });
    say(`ours ${node}: import ${imp.wallS.toFixed(1)} s, CPU ${imp.cpuS.toFixed(1)} s; ${imp.stderr.trim().split('\n').pop()}`);
    if (caps.rebuild) {
      const [rcmd, rargs] = keyserverCommand(['--store', `sqlite:${stores[n - 1]}`, ...caps.rebuild], { built: BUILT });
      const rb = timed(rcmd, rargs, { tmp: plan.work, env: childEnv({ MONKEYSPHERE_LOG_LEVEL: 'INFO' }) });
      if (rb.status !== 0) throw new Error(`monkeysphere-keyserver ${caps.rebuild.join(' ')} failed (${rb.status}): ${rb.stderr.slice(-2000)}`);
      setup.push({ pair: 'ours', node, step: `monkeysphere-keyserver ${caps.rebuild.join(' ')}`, wallS: rb.wallS, cpuS: rb.cpuS, maxRssMb: rb.maxRssMb });
      say(`ours ${node}: ${caps.rebuild.join(' ')} ${rb.wallS.toFixed(1)} s`);
    }
  }
  const [da, db] = await Promise.all(stores.map(storeDigests));
  const differencesBefore = symmetricDifference(da, db);
  say(`ours: ${fmt(da.size)} and ${fmt(db.size)} digests, ${fmt(differencesBefore)} differing`);

  const hkp: [number, number] = [await freePort(), await freePort()];
  const recon: [number, number] = [await freePort(), await freePort()];
  const membership: [string, string] = [join(plan.work, 'ours-a.peers'), join(plan.work, 'ours-b.peers')];
  for (const m of membership) writeFileSync(m, '');
  const taps = await tapsFor(recon, hkp);
  const procs: Proc[] = [];
  let result: SyncResult;
  try {
    for (const n of [1, 2]) {
      const args = [
        '--store',
        `sqlite:${stores[n - 1]}`,
        'serve',
        '--listen',
        `${hkpAddrOf(n)}:${hkp[n - 1]}`,
        '--recon',
        `${addrOf(n)}:${recon[n - 1]}`,
        '--peers',
        membership[n - 1],
        '--gossip-interval',
        String(GOSSIP_S),
      ];
      const [cmd, cargs] = keyserverCommand(args, { built: BUILT });
      const p = startProc(`monkeysphere-keyserver serve ${n === 1 ? 'A' : 'B'}`, cmd, cargs, { cwd: ROOT, env: childEnv({ MONKEYSPHERE_LOG_LEVEL: 'INFO' }) });
      procs.push(p);
    }
    const readyAt = performance.now();
    for (const n of [1, 2]) await waitHttp(`http://${hkpAddrOf(n)}:${hkp[n - 1]}`, '/pks/lookup?op=stats&options=mr', 600, procs);
    setup.push({ pair: 'ours', node: 'A', step: 'serve start (both, until HKP answers)', wallS: (performance.now() - readyAt) / 1000, cpuS: Number.NaN, maxRssMb: Number.NaN });
    const numkeys = async (n: 1 | 2) => {
      const res = await fetch(`http://${hkpAddrOf(n)}:${hkp[n - 1]}/pks/lookup?op=stats&options=mr`, { signal: AbortSignal.timeout(10_000) });
      return ((await res.json()) as { numkeys: number }).numkeys;
    };
    const before = [await numkeys(1), await numkeys(2)];
    result = await measureSync('ours', plan, membership, taps, () => procs.map((p) => p.pid), procs, differencesBefore, async (n) => (await numkeys(n)) - before[n - 1]);
    for (const p of procs) {
      const lines = p.stderr.split('\n').filter((l) => /recon/.test(l));
      result.notes.push(`${p.name}: ${lines.length} log lines about recon, last: ${lines.slice(-2).join(' | ').slice(0, 300)}`);
    }
  } finally {
    for (const p of procs) {
      await p.stop();
      running.delete(p);
    }
    for (const t of [...taps.recon, ...taps.hkp]) await t.close();
  }
  const [ea, eb] = await Promise.all(stores.map(storeDigests));
  const after = symmetricDifference(ea, eb);
  result.notes.push(`digests after: A ${fmt(ea.size)}, B ${fmt(eb.size)}, ${after} differing`);
  if (after !== 0) result.wrongSet.push(`the stores still differ in ${after} digests`);
  return result;
}

// --- the run --------------------------------------------------------------------------------

const fprOf = (c: Cert) => c.primary.fpr;
const bytesOf = (cs: Cert[]) => Buffer.concat(cs.flatMap((c) => c.packets.map((p) => p.raw)));

function makePlan(work: string): Plan {
  if (!Number.isInteger(HALF) || HALF < 1 || DIFF >= CERTS) throw new Error(`--diff must be even, at least 2 and below --certs (got ${DIFF})`);
  const t = performance.now();
  const x = readCerts(syntheticKeyring(CERTS - HALF)).certs;
  const y = readCerts(syntheticKeyring(HALF, 'recon-diff')).certs;
  const onlyB = x.slice(x.length - HALF);
  const common = x.slice(0, x.length - HALF);
  const fileA = join(work, 'a.pgp');
  const fileB = join(work, 'b.pgp');
  writeFileSync(fileA, bytesOf([...common, ...y]));
  writeFileSync(fileB, bytesOf(x));
  say(`keyrings: ${fmt(CERTS)} certificates (${fmt(common.length)} common, ${fmt(HALF)} only on A, ${fmt(HALF)} only on B) in ${Math.round(performance.now() - t)} ms (generated ones cached in ${tmpdir()}/ms-flood-cache)`);
  return { work, fileA, fileB, all: [...x, ...y].map(fprOf), missingA: onlyB.map(fprOf), missingB: y.map(fprOf) };
}

const MB = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '–');

async function main(): Promise<number> {
  for (const tool of [SKS, '/usr/bin/time']) if (!existsSync(tool)) throw new Error(`${tool} is missing (run scripts/setup.sh)`);
  const work = mkdtempSync(join(tmpdir(), 'ms-bench-recon-'));
  const setup: SetupRow[] = [];
  const results: SyncResult[] = [];
  const errors: string[] = [];
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', 'src'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '';
  const header = [
    `date ${new Date().toISOString()}, commit ${git}${dirty ? ' (plus uncommitted changes in src/)' : ''}, ${BUILT ? 'bin/ (built)' : 'sources through tsx'}`,
    `${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}, SKS 1.1.6 (${SKS})`,
    `${fmt(CERTS)} certificates, ${fmt(DIFF)} differing (${fmt(HALF)} each way), gossip every ${GOSSIP_S} s on every node, timeout ${TIMEOUT_S} s`,
  ];
  for (const h of header) say(h);
  const loads = [`start ${load()}`];
  try {
    const plan = makePlan(work);
    for (const [name, run] of [
      ['sks', runSks],
      ['ours', runOurs],
    ] as const) {
      if (ONLY && ONLY !== name) continue;
      try {
        results.push(await run(plan, setup));
      } catch (err) {
        const msg = `${name}: ${err instanceof Error ? err.message : String(err)}`;
        say(`error: ${msg}`);
        errors.push(msg);
      }
      loads.push(`after ${name} ${load()}`);
    }
  } finally {
    await stopAll();
    rmSync(work, { recursive: true, force: true });
  }

  const out: string[] = ['', ...header, `load average (1, 5, 15 min): ${loads.join('; ')}`, ''];
  out.push('Setup (whole processes, GNU time; not part of the sync):', '', '| pair | node | step | wall | CPU | peak memory |', '|---|---|---|---:|---:|---:|');
  for (const r of setup) out.push(`| ${r.pair} | ${r.node} | ${r.step} | ${r.wallS.toFixed(1)} s | ${Number.isNaN(r.cpuS) ? '–' : `${r.cpuS.toFixed(1)} s`} | ${Number.isNaN(r.maxRssMb) ? '–' : `${fmt(r.maxRssMb)} MB`} |`);
  const sks = results.find((r) => r.pair === 'SKS 1.1.6');
  const ours = results.find((r) => r.pair === 'ours');
  const rows: Array<[string, (r: SyncResult) => string, (r: SyncResult) => number]> = [
    ['digests differing before', (r) => fmt(r.differencesBefore), (r) => r.differencesBefore],
    ['**sync wall time** (first session → both complete)', (r) => `**${r.syncS.toFixed(2)} s**`, (r) => r.syncS],
    ['node A / node B complete', (r) => `${r.doneAS.toFixed(2)} s / ${r.doneBS.toFixed(2)} s`, () => Number.NaN],
    ['first session after gossip enabled', (r) => `${r.firstSessionAfterS.toFixed(1)} s`, () => Number.NaN],
    ['recon connections (answered)', (r) => `${r.sessions} (${r.answered})`, (r) => r.sessions],
    ['**recon bytes** (both ways)', (r) => `**${fmt(r.reconBytes)}**`, (r) => r.reconBytes],
    ['recon bytes, first session alone', (r) => fmt(r.firstSessionBytes), (r) => r.firstSessionBytes],
    ['hashquery requests (connections)', (r) => `${r.hashqueryRequests} (${r.hashqueryConnections})`, (r) => r.hashqueryRequests],
    ['**hashquery bytes** (both ways)', (r) => `**${fmt(r.hashqueryBytes)}** (${MB(r.hashqueryBytes)})`, (r) => r.hashqueryBytes],
    ['server CPU, both nodes', (r) => `${r.serverCpuS.toFixed(2)} s`, (r) => r.serverCpuS],
    ['load average at start → end', (r) => `${r.loadAtStart.split(' ')[0]} → ${r.loadAtEnd.split(' ')[0]}`, () => Number.NaN],
    ['every certificate on both nodes', (r) => (r.wrongSet.length === 0 ? 'yes' : `**no**: ${r.wrongSet.join('; ')}`), () => Number.NaN],
  ];
  out.push('', 'Sync (measured when both nodes hold every certificate):', '', '| | SKS 1.1.6 (sks db + sks recon) | ours (serve --recon) | ours / SKS |', '|---|---:|---:|---:|');
  for (const [label, show, value] of rows) {
    out.push(`| ${label} | ${sks ? show(sks) : 'not run'} | ${ours ? show(ours) : 'not run'} | ${sks && ours ? ratio(value(ours), value(sks)) : '–'} |`);
  }
  out.push('');
  for (const r of results) for (const n of r.notes) out.push(`- ${r.pair}: ${n}`);
  for (const e of errors) out.push(`- error: ${e}`);
  console.log(out.join('\n'));
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ header, loads, setup, results, errors }, null, 2));
  const wrong = results.some((r) => r.wrongSet.length > 0);
  return errors.length > 0 || wrong ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void stopAll().then(() => process.exit(130));
  });
}
main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    await stopAll();
    process.stderr.write(`bench: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
