/**
 * The keyserver against SKS 1.1.6, side by side in one run (issue 13, "Benchmark"):
 *
 * 1. Import. The same keyring, a generated one (test/helpers/flood.ts `syntheticKeyring`:
 *    Ed25519, one user ID each, certified by the two certificates before it) and with
 *    --debian also Debian's keyring, is loaded
 *    - into our SQLite store by `monkeysphere-keyserver --store sqlite:PATH import FILE`, as a
 *      process (every signature verified, the command's default workers);
 *    - into SKS by `sks build FILE` (the key database with the keys in it and the word index,
 *      all `sks db` needs to answer lookups; SKS verifies no signature), then `sks pbuild`
 *      (the prefix tree recon needs), timed apart;
 *    - into a throwaway GnuPG home by `gpg --import`, as a reference (at most --gpg-certs of
 *      the certificates: gpg takes minutes for 100,000).
 *    Each is a whole process under GNU time (wall, CPU, peak memory): certificates/s. Then both
 *    stores are counted (not assumed): our `op=stats&options=mr` numkeys and SKS's
 *    `op=stats` "Total number of keys" (SKS computes it at start-up: `initial_stat`), against
 *    the certificates in the file and gpg's IMPORT_RES.
 * 2. Lookups with wrk on loopback against `monkeysphere-keyserver serve` and `sks db` on
 *    those stores: `op=get&options=mr&search=0x<fingerprint>` over every fingerprint of the
 *    file and `op=index&options=mr&search=<e-mail>` over every address found on exactly one
 *    certificate, each request's path drawn at random from the list (a wrk Lua script). SKS
 *    speaks HTTP/1.0 and closes every connection, so ours is measured twice: with keep-alive
 *    and with `Connection: close`. Before measuring, a sample of answers is compared: for
 *    `get` the same primary fingerprint, user IDs and subkeys (signature counts may differ:
 *    ours serves only certifications it could verify); for `index` both must list the
 *    address's certificate (SKS, a word search, may list more). Requests/s, p50/p99 latency
 *    (wrk's, closed loop), and the server's CPU time (from /proc) per request. Last, the
 *    floor: node:http in one process answering the same paths with a constant body of our
 *    answers' size and no lookup, which no single Node process on the machine can beat.
 * Exits 1 when the stores hold different numbers of certificates or an answer is wrong.
 * Every server is started and stopped (by PID) here; ours without NODE_EXTRA_CA_CERTS.
 *
 * Usage: env -u NODE_EXTRA_CA_CERTS node --import tsx bench/keyserver.bench.ts
 *          [--certs N] [--debian] [--duration S] [--warmup S] [--connections C] [--threads T]
 *          [--gpg-certs N] [--gpg-debian N] [--sample K] [--built] [--serve-workers N] [--json FILE] [--prof DIR]
 * --certs: generated certificates (default 10,000; 100,000 for the issue's figure; 0: none;
 *   the keyring is cached in the temp directory, so a second run does not generate it again);
 * --debian: also /usr/share/keyrings/debian-keyring.gpg; --duration: seconds per wrk run
 *   (default 10, after --warmup seconds, default 2, not counted); --connections/--threads:
 *   wrk's -c/-t (default 16/1); --gpg-certs: generated certificates given to gpg (default
 *   10,000, 0: no gpg); --gpg-debian: Debian certificates given to gpg (default all 905; gpg
 *   needs about a minute for them); --sample: answers compared per lookup kind (default 50); --built: run
 *   bin/monkeysphere-keyserver.js (`npm run build` first) instead of the sources through tsx;
 * --serve-workers: ours is also measured as `serve --workers N` (default: the machine's cores;
 *   1: one process only), its CPU the sum over the primary and the workers;
 * --json: the results as JSON too; --prof: V8 CPU profiles of our import and server processes
 *   (`node --cpu-prof`) into DIR, to see where the time goes (they slow the run a little).
 * Other arguments, such as those scripts/bench.sh passes to every benchmark, are ignored.
 * Results and how to read them: BENCHMARKS.md §8 (100,000 + Debian: about 5 minutes here).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { dearmor } from '../src/openpgp/armor.js';
import { type Cert, readCerts } from '../src/openpgp/cert.js';
import { syntheticKeyring } from '../test/helpers/flood.js';
import { childEnv, keyserverCommand, procCpu, ROOT, timed, treeCpu } from './processes.js';
import { freePort } from '../test/helpers/sks.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const CERTS = Number(arg('certs', '10000'));
const DURATION = Number(arg('duration', '10'));
const WARMUP = Number(arg('warmup', '2'));
const CONNECTIONS = Number(arg('connections', '16'));
const THREADS = Number(arg('threads', '1'));
const GPG_CERTS = Number(arg('gpg-certs', '10000'));
const GPG_DEBIAN = Number(arg('gpg-debian', '100000'));
const SAMPLE = Number(arg('sample', '50'));
const BUILT = argv.includes('--built');
/** Ours is measured as one process and, when this is above 1, also as `serve --workers N`. */
const SERVE_WORKERS = Number(arg('serve-workers', String(availableParallelism())));
const JSON_OUT = arg('json', '');
const PROF = arg('prof', '');
const DEBIAN = '/usr/share/keyrings/debian-keyring.gpg';
const SKS = '/usr/sbin/sks';

const say = (s: string) => process.stderr.write(`bench: ${s}\n`);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

// --- processes ------------------------------------------------------------------------

/** With --prof DIR: V8 CPU profiles of our processes, written into DIR when each exits. */
const profOptions = (): string[] => (PROF ? ['--cpu-prof', '--cpu-prof-dir', PROF] : []);


/** A server process, stopped by PID (SIGTERM, then SIGKILL after 10 s). */
class Server {
  private stderr = '';
  constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (d: Buffer) => {
      if (this.stderr.length < 64 * 1024) this.stderr += d.toString('utf8');
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Waits until `path` answers 200 (or the process dies, or `seconds` pass). */
  async ready(path: string, seconds: number): Promise<void> {
    const until = Date.now() + seconds * 1000;
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.slice(-2000)}`);
      try {
        const res = await fetch(this.url + path, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > until) throw new Error(`${this.name} did not answer ${path} within ${seconds} s: ${this.stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(timer);
  }
}

const running = new Set<Server>();
async function startServer(name: string, port: number, cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Server> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'ignore', 'pipe'] });
  const s = new Server(name, port, child);
  running.add(s);
  return s;
}
async function stopServer(s: Server): Promise<void> {
  await s.stop();
  running.delete(s);
}

/**
 * The floor: node:http in one process answering every request with a constant body (argv: port,
 * body bytes), no lookup at all. What a single Node process on this machine cannot beat.
 */
const FLOOR_SERVER = `const http = require('node:http');
const body = Buffer.alloc(Number(process.argv[2]), 0x41);
http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); res.end(body); }).listen(Number(process.argv[1]), '127.0.0.1');`;
const FLOOR_LABEL = 'floor: node:http, constant answer of the same size, keep-alive';

// --- SKS --------------------------------------------------------------------------------

/** A fresh SKS base directory (Debian's layout under -basedir), its ports chosen now. */
async function sksBase(dir: string): Promise<number> {
  for (const d of ['etc/sks', 'var/lib/sks/www', 'var/log/sks', 'var/run/sks', 'var/spool/sks']) mkdirSync(join(dir, d), { recursive: true });
  const port = await freePort();
  const recon = await freePort();
  // initial_stat: the statistics page (with the number of keys) is computed at start-up, not once a day.
  writeFileSync(
    join(dir, 'etc/sks/sksconf'),
    `hostname: localhost\nhkp_address: 127.0.0.1\nhkp_port: ${port}\nrecon_address: 127.0.0.1\nrecon_port: ${recon}\ndisable_mailsync:\ninitial_stat:\n`,
  );
  writeFileSync(join(dir, 'etc/sks/membership'), '');
  return port;
}

function duBytes(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of readdirSync(path)) n += duBytes(join(path, e));
  return n;
}

// --- answers ------------------------------------------------------------------------------

async function fetchText(url: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** What two `get` answers must share: primary fingerprint, user IDs, subkeys. Signature counts are reported, not required. */
function certShape(c: Cert): { fpr: string; uids: string; subkeys: string; sigs: number } {
  const sigs = c.directSigs.length + c.users.reduce((n, u) => n + u.signatures.length, 0) + c.subkeys.reduce((n, k) => n + k.signatures.length, 0);
  return {
    fpr: c.primary.fpr,
    uids: c.users
      .map((u) => (u.kind === 'userid' ? u.text : `[attribute ${u.packet.body.length}]`))
      .sort()
      .join('\n'),
    subkeys: c.subkeys
      .map((k) => k.key.fpr)
      .sort()
      .join(' '),
    sigs,
  };
}

/** The fingerprints (or key IDs) of a machine-readable index, upper case, sorted. */
function mrFingerprints(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('pub:'))
    .map((l) => l.split(':')[1].toUpperCase())
    .sort();
}

interface Agreement {
  checked: number;
  /** Answers that agree: the same certificate (get), the same set of certificates (index). */
  same: number;
  /** get: the same certificate with another number of signatures; index: both list the address's certificate, SKS others too. */
  differ: number;
  problems: string[];
}

async function compareGets(ours: Server, sks: Server, fprs: string[]): Promise<Agreement> {
  const a: Agreement = { checked: 0, same: 0, differ: 0, problems: [] };
  for (const fpr of fprs) {
    const path = `/pks/lookup?op=get&options=mr&search=0x${fpr}`;
    const [x, y] = await Promise.all([fetchText(ours.url + path), fetchText(sks.url + path)]);
    a.checked++;
    if (x.status !== 200 || y.status !== 200) {
      a.problems.push(`get ${fpr}: ours ${x.status}, SKS ${y.status}`);
      continue;
    }
    const cx = readCerts(dearmor(x.body)).certs.map(certShape);
    const cy = readCerts(dearmor(y.body)).certs.map(certShape);
    if (cx.length !== 1 || cy.length !== 1) {
      a.problems.push(`get ${fpr}: ours ${cx.length} certificates, SKS ${cy.length}`);
      continue;
    }
    const [p, q] = [cx[0], cy[0]];
    if (p.fpr !== fpr || q.fpr !== fpr) a.problems.push(`get ${fpr}: ours ${p.fpr}, SKS ${q.fpr}`);
    else if (p.uids !== q.uids) a.problems.push(`get ${fpr}: user IDs differ: ours ${JSON.stringify(p.uids)}, SKS ${JSON.stringify(q.uids)}`);
    else if (p.subkeys !== q.subkeys) a.problems.push(`get ${fpr}: subkeys differ: ours ${p.subkeys}, SKS ${q.subkeys}`);
    else {
      a.same++;
      if (p.sigs !== q.sigs) a.differ++;
    }
  }
  return a;
}

/**
 * Each address is on exactly one certificate of the file: both answers must list it. SKS's
 * index is a word search (every word of the address somewhere in a certificate's user IDs),
 * so it may list more; ours matches the address. Those count apart, not as failures.
 */
async function compareIndexes(ours: Server, sks: Server, emails: Array<[string, string]>): Promise<Agreement> {
  const a: Agreement = { checked: 0, same: 0, differ: 0, problems: [] };
  for (const [email, owner] of emails) {
    const path = `/pks/lookup?op=index&options=mr&search=${encodeURIComponent(email)}`;
    const [x, y] = await Promise.all([fetchText(ours.url + path), fetchText(sks.url + path)]);
    a.checked++;
    if (x.status !== 200 || y.status !== 200) {
      a.problems.push(`index ${email}: ours ${x.status}, SKS ${y.status}`);
      continue;
    }
    // Compare by the last 16 digits: either side may give key IDs instead of fingerprints.
    const fx = mrFingerprints(x.body.toString('utf8')).map((f) => f.slice(-16));
    const fy = mrFingerprints(y.body.toString('utf8')).map((f) => f.slice(-16));
    const id = owner.slice(-16);
    if (!fx.includes(id) || !fy.includes(id)) a.problems.push(`index ${email} (${owner}): ours [${fx.join(' ')}], SKS [${fy.join(' ')}]`);
    else if (fx.join(' ') === fy.join(' ')) a.same++;
    else if (fx.every((f) => fy.includes(f))) a.differ++;
    else a.problems.push(`index ${email} (${owner}): ours [${fx.join(' ')}], SKS [${fy.join(' ')}]`);
  }
  return a;
}

// --- wrk ------------------------------------------------------------------------------------

const WRK_LUA = `-- Each request's path is drawn at random from the file given after --.
local paths = {}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("seed", n)
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(1000 + (seed or 0))
end
function request()
  return wrk.format(nil, paths[math.random(#paths)])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`;

interface WrkResult {
  requests: number;
  duration_us: number;
  bytes: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  mean_us: number;
}

interface LookupRow {
  dataset: string;
  op: 'get' | 'index';
  server: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  serverCpuS: number;
  cpuMsPerReq: number;
  kbPerReq: number;
  loadAvg: string;
}

function wrk(server: Server, script: string, pathsFile: string, seconds: number, close: boolean): WrkResult {
  const args = ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--timeout', '10s', '-s', script];
  if (close) args.push('-H', 'Connection: close');
  args.push(server.url, '--', pathsFile);
  const r = spawnSync('wrk', args, { encoding: 'utf8', env: childEnv() });
  const line = r.stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (r.status !== 0 || !line) throw new Error(`wrk failed (${r.status}): ${r.stdout}${r.stderr}`);
  return JSON.parse(line.slice(8)) as WrkResult;
}

function measureLookups(dataset: string, op: 'get' | 'index', server: Server, label: string, script: string, pathsFile: string, close: boolean): LookupRow {
  if (WARMUP > 0) wrk(server, script, pathsFile, WARMUP, close);
  const before = treeCpu(server.pid);
  const la = load();
  const w = wrk(server, script, pathsFile, DURATION, close);
  const after = treeCpu(server.pid);
  const errors = w.connect + w.read + w.write + w.status + w.timeout;
  const rps = w.requests / (w.duration_us / 1e6);
  const row: LookupRow = {
    dataset,
    op,
    server: label,
    rps,
    p50Ms: w.p50_us / 1000,
    p99Ms: w.p99_us / 1000,
    errors,
    serverCpuS: after - before,
    cpuMsPerReq: ((after - before) * 1000) / Math.max(1, w.requests),
    kbPerReq: w.bytes / Math.max(1, w.requests) / 1024,
    loadAvg: la,
  };
  say(
    `${dataset} ${op} ${label}: ${rps.toFixed(0)} req/s, p50 ${row.p50Ms.toFixed(2)} ms, p99 ${row.p99Ms.toFixed(2)} ms, ${errors} errors (${JSON.stringify({ connect: w.connect, read: w.read, write: w.write, status: w.status, timeout: w.timeout })}), server CPU ${row.serverCpuS.toFixed(1)} s`,
  );
  return row;
}

// --- the run ---------------------------------------------------------------------------------

interface ImportRow {
  dataset: string;
  tool: string;
  certs: number;
  wallS: number;
  cpuS: number;
  maxRssMb: number;
  rate: number;
  note: string;
  loadAvg: string;
}

interface Dataset {
  name: string;
  file: string;
  bytes: Buffer;
  certs: Cert[];
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

/** Every `stride`-th element, `k` of them. */
function sample<T>(xs: T[], k: number): T[] {
  if (xs.length <= k) return xs;
  const stride = xs.length / k;
  return Array.from({ length: k }, (_, i) => xs[Math.floor(i * stride)]);
}

/** Addresses on exactly one certificate of the file, each with that certificate's fingerprint. */
function uniqueEmails(certs: Cert[]): Array<[string, string]> {
  const owners = new Map<string, Set<string>>();
  for (const c of certs) {
    for (const u of c.users) {
      if (u.kind !== 'userid') continue;
      const m = /<([^<>\s]+@[^<>\s]+)>/.exec(u.text) ?? /^([^<>\s]+@[^<>\s]+)$/.exec(u.text);
      if (!m) continue;
      const e = m[1].toLowerCase();
      const s = owners.get(e) ?? new Set<string>();
      owners.set(e, s);
      s.add(c.primary.fpr);
    }
  }
  return [...owners].filter(([, s]) => s.size === 1).map(([e, s]): [string, string] => [e, [...s][0]]);
}

async function main(): Promise<number> {
  for (const tool of [SKS, '/usr/bin/time']) if (!existsSync(tool)) throw new Error(`${tool} is missing (run scripts/setup.sh)`);
  if (spawnSync('wrk', ['-v']).error) throw new Error('wrk is missing (run scripts/setup.sh)');
  const work = mkdtempSync(join(tmpdir(), 'ms-bench-ks-'));
  let failed = false;
  const importRows: ImportRow[] = [];
  const lookupRows: LookupRow[] = [];
  const counts: Array<Record<string, number | string>> = [];
  const agreements: Array<Record<string, unknown>> = [];
  const sizes: Array<Record<string, number | string>> = [];
  const loads: string[] = [`start ${load()}`];
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', 'src'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '';
  const gpgVersion = spawnSync('gpg', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const wrkVersion = (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout || '').split('\n')[0];
  const header = [
    `date ${new Date().toISOString()}, commit ${git}${dirty ? ' (plus uncommitted changes in src/)' : ''}, ${BUILT ? 'bin/ (built)' : 'sources through tsx'}`,
    `${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}, ${gpgVersion}, ${wrkVersion}, SKS 1.1.6 (${SKS})`,
    `wrk -t${THREADS} -c${CONNECTIONS}, ${DURATION} s per run after ${WARMUP} s of warm-up`,
  ];
  for (const h of header) say(h);

  try {
    const datasets: Dataset[] = [];
    if (CERTS > 0) {
      const t = performance.now();
      const bytes = syntheticKeyring(CERTS);
      const file = join(work, `generated-${CERTS}.pgp`);
      writeFileSync(file, bytes);
      say(`generated keyring: ${fmt(CERTS)} certificates, ${(bytes.length / 2 ** 20).toFixed(1)} MiB (${Math.round(performance.now() - t)} ms, cached in ${tmpdir()}/ms-flood-cache)`);
      datasets.push({ name: `generated ${fmt(CERTS)}`, file, bytes, certs: readCerts(bytes).certs });
    }
    if (argv.includes('--debian')) {
      if (!existsSync(DEBIAN)) throw new Error(`${DEBIAN} is missing (debian-keyring; run scripts/setup.sh)`);
      const bytes = readFileSync(DEBIAN);
      datasets.push({ name: 'debian-keyring', file: DEBIAN, bytes, certs: readCerts(bytes).certs });
    }

    const script = join(work, 'paths.lua');
    writeFileSync(script, WRK_LUA);

    for (const ds of datasets) {
      const n = ds.certs.length;
      const dir = join(work, ds.name.replace(/[^a-z0-9]+/gi, '-'));
      mkdirSync(dir);
      say(`${ds.name}: ${fmt(n)} certificates in ${ds.file} (${(ds.bytes.length / 2 ** 20).toFixed(1)} MiB); load ${load()}`);

      // 1. Import: ours, SKS, gpg.
      const storePath = join(dir, 'ours.sqlite');
      let la = load();
      const [cmd, args] = keyserverCommand(['--store', `sqlite:${storePath}`, 'import', ds.file], { built: BUILT, nodeOptions: profOptions() });
      const ours = timed(cmd, args, { tmp: work, env: childEnv({ MONKEYSPHERE_LOG_LEVEL: 'INFO' }) });
      if (ours.status !== 0) throw new Error(`monkeysphere-keyserver import failed (${ours.status}): ${ours.stderr}`);
      const reported = /imported (\d+) certificates .* in ([\d.]+) s(?::\s*([^;]*))?/.exec(ours.stderr);
      const inner = reported ? Number(reported[2]) : Number.NaN;
      importRows.push({
        dataset: ds.name,
        tool: 'monkeysphere-keyserver import',
        certs: n,
        wallS: ours.wallS,
        cpuS: ours.cpuS,
        maxRssMb: ours.maxRssMb,
        rate: n / ours.wallS,
        note: `${fmt(n / inner)}/s as it reports (${inner} s, without start-up); ${reported?.[3]?.trim() ?? ours.stderr.trim()}`,
        loadAvg: la,
      });
      say(`ours: ${ours.wallS.toFixed(1)} s (${fmt(n / ours.wallS)}/s), CPU ${ours.cpuS.toFixed(1)} s, ${ours.maxRssMb.toFixed(0)} MB; ${ours.stderr.trim()}`);

      const sksDir = join(dir, 'sks');
      const sksPort = await sksBase(sksDir);
      la = load();
      const build = timed(SKS, ['build', ds.file, '-n', '10', '-cache', '100', '-basedir', sksDir], { cwd: sksDir, tmp: work });
      if (build.status !== 0) throw new Error(`sks build failed (${build.status}): ${build.stderr}`);
      importRows.push({ dataset: ds.name, tool: 'sks build', certs: n, wallS: build.wallS, cpuS: build.cpuS, maxRssMb: build.maxRssMb, rate: n / build.wallS, note: 'no signature verified', loadAvg: la });
      say(`sks build: ${build.wallS.toFixed(1)} s (${fmt(n / build.wallS)}/s), CPU ${build.cpuS.toFixed(1)} s`);
      la = load();
      const pbuild = timed(SKS, ['pbuild', '-cache', '20', '-ptree_cache', '70', '-basedir', sksDir], { cwd: sksDir, tmp: work });
      if (pbuild.status !== 0) throw new Error(`sks pbuild failed (${pbuild.status}): ${pbuild.stderr}`);
      importRows.push({
        dataset: ds.name,
        tool: 'sks build + pbuild',
        certs: n,
        wallS: build.wallS + pbuild.wallS,
        cpuS: build.cpuS + pbuild.cpuS,
        maxRssMb: Math.max(build.maxRssMb, pbuild.maxRssMb),
        rate: n / (build.wallS + pbuild.wallS),
        note: `pbuild (recon's prefix tree) ${pbuild.wallS.toFixed(1)} s`,
        loadAvg: la,
      });
      say(`sks pbuild: ${pbuild.wallS.toFixed(1)} s`);

      let gpgImported = Number.NaN;
      const gpgN = Math.min(n, ds.file === DEBIAN ? GPG_DEBIAN : GPG_CERTS);
      if (gpgN > 0) {
        const home = join(dir, 'gnupg');
        mkdirSync(home, { mode: 0o700 });
        let file = ds.file;
        if (gpgN < n) {
          file = join(dir, `first-${gpgN}.pgp`);
          writeFileSync(file, Buffer.concat(ds.certs.slice(0, gpgN).flatMap((c) => c.packets.map((p) => p.raw))));
        }
        la = load();
        const g = timed('gpg', ['--homedir', home, '--batch', '--quiet', '--no-auto-check-trustdb', '--trust-model', 'always', '--status-fd', '1', '--import', file], { tmp: work, cwd: dir });
        spawnSync('gpgconf', ['--homedir', home, '--kill', 'all']);
        const res = /\[GNUPG:\] IMPORT_RES (\d+) \d+ (\d+)/.exec(g.stdout);
        gpgImported = res ? Number(res[2]) : Number.NaN;
        importRows.push({
          dataset: ds.name,
          tool: `gpg --import${gpgN < n ? ` (first ${fmt(gpgN)})` : ''}`,
          certs: gpgN,
          wallS: g.wallS,
          cpuS: g.cpuS,
          maxRssMb: g.maxRssMb,
          rate: gpgN / g.wallS,
          note: `exit ${g.status}; IMPORT_RES: ${res ? `${res[1]} read, ${res[2]} imported` : 'none'}`,
          loadAvg: la,
        });
        say(`gpg --import of ${fmt(gpgN)}: ${g.wallS.toFixed(1)} s (${fmt(gpgN / g.wallS)}/s), exit ${g.status}`);
      }
      sizes.push({ dataset: ds.name, oursMiB: duBytes(storePath) / 2 ** 20, sksMiB: duBytes(join(sksDir, 'var/lib/sks')) / 2 ** 20 });

      // 2. Serve both; count; compare a sample; measure.
      const oursPort = await freePort();
      const [scmd, sargs] = keyserverCommand(['--store', `sqlite:${storePath}`, 'serve', '--listen', `127.0.0.1:${oursPort}`], { built: BUILT, nodeOptions: profOptions() });
      const oursServer = await startServer('monkeysphere-keyserver serve', oursPort, scmd, sargs, { cwd: ROOT, env: childEnv({ MONKEYSPHERE_LOG_LEVEL: 'ERROR' }) });
      const sksServer = await startServer('sks db', sksPort, SKS, ['db', '-basedir', sksDir], { cwd: sksDir, env: childEnv() });
      const multiPort = await freePort();
      const [mcmd, margs] = keyserverCommand(['--store', `sqlite:${storePath}`, 'serve', '--listen', `127.0.0.1:${multiPort}`, '--workers', String(SERVE_WORKERS)], { built: BUILT });
      const oursMulti = SERVE_WORKERS > 1 ? await startServer(`monkeysphere-keyserver serve --workers ${SERVE_WORKERS}`, multiPort, mcmd, margs, { cwd: ROOT, env: childEnv({ MONKEYSPHERE_LOG_LEVEL: 'ERROR' }) }) : undefined;
      try {
        await oursServer.ready('/pks/lookup?op=stats&options=mr', 120);
        await oursMulti?.ready('/pks/lookup?op=stats&options=mr', 120);
        await sksServer.ready('/pks/lookup?op=stats', 300);
        const ourStats = JSON.parse((await fetchText(`${oursServer.url}/pks/lookup?op=stats&options=mr`)).body.toString('utf8')) as { numkeys: number };
        const sksStats = /Total number of keys:\s*(?:<[^>]*>\s*)*(\d+)/.exec((await fetchText(`${sksServer.url}/pks/lookup?op=stats`)).body.toString('utf8'));
        const sksKeys = sksStats ? Number(sksStats[1]) : Number.NaN;
        counts.push({ dataset: ds.name, file: n, ours: ourStats.numkeys, sks: sksKeys, gpg: gpgN > 0 ? `${gpgImported} of ${gpgN}` : 'not run' });
        say(`stored: ours ${ourStats.numkeys}, SKS ${sksKeys}, file ${n}${gpgN > 0 ? `, gpg ${gpgImported} of ${gpgN}` : ''}`);
        if (ourStats.numkeys !== sksKeys) {
          say(`error: the stores hold different numbers of certificates (ours ${ourStats.numkeys}, SKS ${sksKeys})`);
          failed = true;
        }

        const fprs = ds.certs.map((c) => c.primary.fpr);
        const emails = uniqueEmails(ds.certs);
        const gets = await compareGets(oursServer, sksServer, sample(fprs, SAMPLE));
        const indexes = await compareIndexes(oursServer, sksServer, sample(emails, SAMPLE));
        agreements.push({ dataset: ds.name, get: { ...gets, problems: gets.problems.slice(0, 10) }, index: { ...indexes, problems: indexes.problems.slice(0, 10) } });
        say(
          `answers: get ${gets.same}/${gets.checked} the same certificate (${gets.differ} of them with another number of signatures), index ${indexes.same}/${indexes.checked} the same certificates (${indexes.differ} more: SKS lists other certificates too)`,
        );
        for (const p of [...gets.problems, ...indexes.problems].slice(0, 10)) say(`  error: ${p.slice(0, 400)}`);
        if (gets.problems.length > 0 || indexes.problems.length > 0) failed = true;

        const getPaths = join(dir, 'get.paths');
        writeFileSync(getPaths, fprs.map((f) => `/pks/lookup?op=get&options=mr&search=0x${f}\n`).join(''));
        const indexPaths = join(dir, 'index.paths');
        writeFileSync(indexPaths, emails.map(([e]) => `/pks/lookup?op=index&options=mr&search=${encodeURIComponent(e)}\n`).join(''));
        for (const [op, paths] of [
          ['get', getPaths],
          ['index', indexPaths],
        ] as const) {
          lookupRows.push(measureLookups(ds.name, op, sksServer, 'SKS 1.1.6 (HTTP/1.0, a connection per request)', script, paths, false));
          const keepAlive = measureLookups(ds.name, op, oursServer, 'ours, keep-alive', script, paths, false);
          lookupRows.push(keepAlive);
          lookupRows.push(measureLookups(ds.name, op, oursServer, 'ours, Connection: close', script, paths, true));
          if (oursMulti) {
            lookupRows.push(measureLookups(ds.name, op, oursMulti, `ours --workers ${SERVE_WORKERS}, keep-alive`, script, paths, false));
            lookupRows.push(measureLookups(ds.name, op, oursMulti, `ours --workers ${SERVE_WORKERS}, Connection: close`, script, paths, true));
          }
          // The ceiling of any one Node process here: node:http answering the same paths with a constant body of our answers' size.
          const floorPort = await freePort();
          const floor = await startServer('node:http floor', floorPort, process.execPath, ['-e', FLOOR_SERVER, String(floorPort), String(Math.round(keepAlive.kbPerReq * 1024))], {
            cwd: ROOT,
            env: childEnv(),
          });
          try {
            await floor.ready('/', 30);
            lookupRows.push(measureLookups(ds.name, op, floor, FLOOR_LABEL, script, paths, false));
          } finally {
            await stopServer(floor);
          }
        }
        const mem = { ours: procCpu(oursServer.pid).hwmMb, sks: procCpu(sksServer.pid).hwmMb };
        sizes[sizes.length - 1].oursServePeakMiB = mem.ours;
        sizes[sizes.length - 1].sksServePeakMiB = mem.sks;
      } finally {
        await stopServer(oursServer);
        if (oursMulti) await stopServer(oursMulti);
        await stopServer(sksServer);
      }
      loads.push(`after ${ds.name} ${load()}`);
    }
  } finally {
    for (const s of running) await s.stop();
    rmSync(work, { recursive: true, force: true });
  }

  // --- report ---
  const out: string[] = [];
  out.push('', ...header, `load average (1, 5, 15 min): ${loads.join('; ')}`, '');
  out.push('Import (whole processes, wall time):', '');
  out.push('| keyring | tool | certificates | wall | certificates/s | CPU | peak memory | load | notes |', '|---|---|---:|---:|---:|---:|---:|---|---|');
  for (const r of importRows) out.push(`| ${r.dataset} | ${r.tool} | ${fmt(r.certs)} | ${r.wallS.toFixed(1)} s | **${fmt(r.rate)}** | ${r.cpuS.toFixed(1)} s | ${fmt(r.maxRssMb)} MB | ${r.loadAvg.split(' ')[0]} | ${r.note} |`);
  out.push('');
  for (const ds of new Set(importRows.map((r) => r.dataset))) {
    const rate = (tool: string) => importRows.find((r) => r.dataset === ds && r.tool.startsWith(tool))?.rate ?? Number.NaN;
    const o = rate('monkeysphere-keyserver');
    const g = rate('gpg');
    out.push(`- ${ds}, ours / sks build: ${(o / rate('sks build')).toFixed(2)}×; ours / sks build + pbuild: ${(o / rate('sks build + pbuild')).toFixed(2)}×${Number.isNaN(g) ? '' : `; ours / gpg --import: ${(o / g).toFixed(2)}×`}`);
  }
  out.push('', 'Stored (counted by each server: op=stats):', '', '| keyring | certificates in the file | ours | SKS | gpg (IMPORT_RES imported) |', '|---|---:|---:|---:|---:|');
  for (const c of counts) out.push(`| ${c.dataset} | ${c.file} | ${c.ours} | ${c.sks} | ${c.gpg} |`);
  out.push('', 'Same answers before measuring (sample):', '');
  for (const a of agreements) {
    const g = a.get as Agreement;
    const i = a.index as Agreement;
    out.push(
      `- ${a.dataset}: get ${g.same}/${g.checked} the same certificate (fingerprint, user IDs, subkeys; ${g.differ} of them with another number of signatures); index ${i.same}/${i.checked} the same certificates, ${i.differ} where SKS lists more (word search); ${g.problems.length + i.problems.length} wrong`,
    );
  }
  out.push('', 'Lookups (wrk on loopback; server CPU from /proc):', '');
  out.push('| keyring | lookup | server | requests/s | p50 | p99 | errors | KiB/answer | server CPU per request | load |', '|---|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const r of lookupRows) {
    out.push(`| ${r.dataset} | ${r.op} | ${r.server} | **${fmt(r.rps)}** | ${r.p50Ms.toFixed(2)} ms | ${r.p99Ms.toFixed(2)} ms | ${r.errors} | ${r.kbPerReq.toFixed(1)} | ${r.cpuMsPerReq.toFixed(3)} ms | ${r.loadAvg.split(' ')[0]} |`);
  }
  out.push('');
  for (const ds of new Set(lookupRows.map((r) => r.dataset))) {
    for (const op of ['get', 'index'] as const) {
      const rows = lookupRows.filter((r) => r.dataset === ds && r.op === op);
      const sks = rows.find((r) => r.server.startsWith('SKS'));
      if (!sks) continue;
      for (const r of rows.filter((x) => x !== sks)) {
        out.push(`- ${ds}, ${op}, ${r.server} against SKS: requests/s ${(r.rps / sks.rps).toFixed(2)}×; p99 SKS / ours ${(sks.p99Ms / r.p99Ms).toFixed(2)}; server CPU per request SKS / ours ${(sks.cpuMsPerReq / r.cpuMsPerReq).toFixed(2)} (above 1: ours better)`);
      }
    }
  }
  out.push('', 'Sizes:', '');
  for (const s of sizes) {
    out.push(
      `- ${s.dataset}: our SQLite store ${Number(s.oursMiB).toFixed(1)} MiB, SKS's DB + PTree ${Number(s.sksMiB).toFixed(1)} MiB; peak memory while serving: ours ${Number(s.oursServePeakMiB ?? 0).toFixed(0)} MiB, SKS ${Number(s.sksServePeakMiB ?? 0).toFixed(0)} MiB`,
    );
  }
  console.log(out.join('\n'));
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ header, loads, importRows, counts, agreements, lookupRows, sizes }, null, 2));
  return failed ? 1 : 0;
}

const stopAll = async () => {
  for (const s of running) await s.stop();
};
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
