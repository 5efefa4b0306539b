/**
 * The user's tool on the per-connection paths, as whole processes, against the original
 * Monkeysphere 0.43 run from /work/shared/reference on the same GnuPG home in the same run:
 * - `ssh-proxycommand --no-connect HOST` (ProxyCommand: updates ~/.ssh/known_hosts);
 * - `known-hosts-command HOST` (ours only, for ssh's KnownHostsCommand; set beside 0.43's
 *   ssh-proxycommand, which is what it replaces);
 * - `keys-for-userid ssh://HOST`;
 * p50 and p95 over --calls calls after warm-up, interleaved (ours, 0.43, ours, ...), and our
 * first call after the keyring changed (the user ID index is recomputed), once.
 *
 * The GnuPG home is real: Bob's, with N Ed25519 certificates made with src/openpgp/build.ts
 * and imported by one `gpg --import`. Bob's key has ultimate ownertrust; Alice, certified by
 * Bob, full ownertrust; three people certified by Bob marginal ownertrust. N/100 hosts
 * (`ssh://hostK.example.org`, primary key certify+authenticate, no subkey) are certified by
 * Alice. The people (certify+sign primary, an authentication subkey) are certified by one or
 * two others; every 10th also by Alice, every 50th by the three marginal introducers.
 * `gpg --check-trustdb` runs before any measurement, so 0.43 reads gpg's precomputed trust.
 * Both tools run with MONKEYSPHERE_CHECK_KEYSERVER=false and without NODE_EXTRA_CA_CERTS, each
 * with its own HOME (known_hosts, ~/.monkeysphere; ours its cache under XDG_CACHE_HOME).
 * Fails if both tools do not print the same keys for keys-for-userid, or leave different
 * host keys in known_hosts, or if our warm calls were not answered from the kept index.
 *
 * Usage: node --import tsx bench/user-per-connection.bench.ts [--certs 1000,10000] [--calls 50]
 * (BENCH_PROF=DIR writes CPU profiles of our first call after the change and of one warm call;
 * BENCH_TMPDIR=DIR puts the homes there, default ~/.cache: 0.43 refuses a known_hosts under a
 * group- or world-writable directory such as /tmp.)
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import { keyPacketFor, signV4, sp, userIdPacket } from '../src/openpgp/build.js';
import type { KeyPacket } from '../src/openpgp/key-packet.js';
import { KeyFlag, SigType } from '../src/openpgp/signature.js';
import { ensureBuilt } from '../test/auth/harness.js';

const ROOT = new URL('../', import.meta.url).pathname;
const REFERENCE = '/work/shared/reference/monkeysphere-0.43';
const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const SIZES = (argOf('certs') ?? '1000,10000').split(',').map(Number);
const CALLS = Number(argOf('calls') ?? 50);
const WARMUP = 3;
/** Hosts asked for in turn (the first ones of the keyring). */
const QUERIED_HOSTS = 10;
const MARGINALS = 3;
if (SIZES.some((n) => !Number.isInteger(n) || n < 100) || !Number.isInteger(CALLS) || CALLS < 1) {
  throw new Error('usage: user-per-connection.bench.ts [--certs N,N] (each >= 100) [--calls N]');
}

const NOW = Math.floor(Date.now() / 1000);
// Both tools and gpg run on the real clock: keys made a month ago, certified a day later.
const CREATED = NOW - 30 * 86400;
const CERTIFIED = CREATED + 86400;

interface Key {
  primary: KeyPacket;
  privateKey: KeyObject;
}

function newKey(): Key {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { primary: keyPacketFor(privateKey, CREATED), privateKey };
}

/** A certificate's packets: primary, one user ID, its self-signature, certifications by `certifiers`, an authentication subkey unless `host`. */
function certBytes(k: Key, uid: string, certifiers: Key[], host: boolean): Buffer {
  const { primary, privateKey } = k;
  const user = userIdPacket(uid);
  const flags = host ? KeyFlag.Certify | KeyFlag.Authenticate : KeyFlag.Certify | KeyFlag.Sign;
  const self = signV4(
    { kind: 'user', primary, user },
    { type: SigType.PositiveCert, signer: primary, privateKey, hashed: [sp.created(CREATED), sp.issuerFingerprint(primary), sp.keyFlags(flags), sp.primaryUserId()] },
  );
  const raws = [primary.packet.raw, user.raw, self.packet.raw];
  for (const c of certifiers) {
    const sig = signV4(
      { kind: 'user', primary, user },
      { type: SigType.GenericCert, signer: c.primary, privateKey: c.privateKey, hashed: [sp.created(CERTIFIED), sp.issuerFingerprint(c.primary)] },
    );
    raws.push(sig.packet.raw);
  }
  if (!host) {
    const sub = generateKeyPairSync('ed25519').privateKey;
    const subPacket = keyPacketFor(sub, CREATED, { subkey: true });
    const bind = signV4(
      { kind: 'subkey', primary, subkey: subPacket },
      { type: SigType.SubkeyBinding, signer: primary, privateKey, hashed: [sp.created(CREATED), sp.issuerFingerprint(primary), sp.keyFlags(KeyFlag.Authenticate)] },
    );
    raws.push(subPacket.packet.raw, bind.packet.raw);
  }
  return Buffer.concat(raws);
}

/** A small deterministic generator (mulberry32), so every run builds the same web. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Web {
  bytes: Buffer;
  ownertrust: string;
  hosts: string[];
  people: number;
  certifications: number;
  /** One more person, certified by nobody: imported to change the keyring. */
  extra: () => Buffer;
}

/** Bob's keyring of `n` certificates (see the header). */
function makeWeb(n: number): Web {
  const hostCount = Math.max(QUERIED_HOSTS, Math.floor(n / 100));
  const peopleCount = n - 2 - MARGINALS - hostCount;
  const bob = newKey();
  const alice = newKey();
  const marginals = Array.from({ length: MARGINALS }, newKey);
  const people = Array.from({ length: peopleCount }, newKey);
  const rand = prng(n);
  const parts: Buffer[] = [];
  let certifications = 0;
  const add = (k: Key, uid: string, by: Key[], host = false) => {
    parts.push(certBytes(k, uid, by, host));
    certifications += by.length;
  };
  add(bob, 'Bob <bob@example.net>', []);
  add(alice, 'Alice <alice@example.net>', [bob]);
  marginals.forEach((m, i) => {
    add(m, `Marginal ${i} <marginal${i}@example.net>`, [bob]);
  });
  const hosts: string[] = [];
  for (let i = 0; i < hostCount; i++) {
    hosts.push(`host${i}.example.org`);
    add(newKey(), `ssh://host${i}.example.org`, [alice], true);
  }
  people.forEach((p, i) => {
    const by = new Set<Key>();
    if (i > 0) by.add(people[i - 1]);
    if (rand() < 0.5) {
      const j = Math.floor(rand() * peopleCount);
      if (j !== i) by.add(people[j]);
    }
    if (i % 10 === 0) by.add(alice);
    if (i % 50 === 0) for (const m of marginals) by.add(m);
    add(p, `Person ${i} <person${i}@example.net>`, [...by]);
  });
  const line = (k: Key, level: number) => `${k.primary.fpr}:${level}:\n`;
  let extras = 0;
  return {
    bytes: Buffer.concat(parts),
    ownertrust: line(bob, 6) + line(alice, 5) + marginals.map((m) => line(m, 4)).join(''),
    hosts,
    people: peopleCount,
    certifications,
    extra: () => certBytes(newKey(), `Newcomer ${extras++} <newcomer@example.net>`, [], false),
  };
}

interface Ran {
  ms: number;
  status: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): Ran {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env, input, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
  return { ms: performance.now() - t, status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function ok(what: string, r: Ran): Ran {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stderr.slice(0, 3000)}`);
  return r;
}

function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A copy of 0.43 that runs: executable scripts, its two symbolic links, a VERSION file. */
function install043(dir: string): string {
  const copy = join(dir, 'ms043');
  cpSync(REFERENCE, copy, { recursive: true });
  for (const link of ['pem2openpgp', 'openpgp2ssh']) {
    rmSync(join(copy, 'src', link));
    symlinkSync('share/keytrans', join(copy, 'src', link));
  }
  for (const tool of ['monkeysphere', 'monkeysphere-authentication', 'monkeysphere-host', 'share/keytrans', 'share/checkperms']) chmodSync(join(copy, 'src', tool), 0o755);
  writeFileSync(join(copy, 'src/share/VERSION'), 'Monkeysphere 0.43\n');
  return copy;
}

/** The state of the GnuPG home's files that both tools depend on (see src/user/userid-index.ts). */
function homeFiles(gnupg: string): string {
  return ['pubring.kbx', 'trustdb.gpg']
    .map((f) => {
      const s = statSync(join(gnupg, f), { bigint: true });
      return `${f}:${s.ino}:${s.size}:${s.mtimeNs}`;
    })
    .join(' ');
}

/** What bin/monkeysphere.js runs (the bundle unless dist/cli/ is newer, as the shim decides) and when it was built. */
function buildIdentity(): string {
  const stamp = (f: string) => {
    const st = statSync(join(ROOT, f), { throwIfNoEntry: false });
    return st ? st.mtimeMs : undefined;
  };
  const bundle = stamp('dist/bundle/monkeysphere.cjs');
  const dist = stamp('dist/cli/monkeysphere.js');
  const which = bundle !== undefined && !(dist !== undefined && dist > bundle) ? 'dist/bundle/monkeysphere.cjs (with its code cache)' : 'dist/cli/monkeysphere.js';
  return `${which}, built ${new Date(Math.max(bundle ?? 0, dist ?? 0)).toISOString()}`;
}

/** The (host, key) pairs of a known_hosts file, sorted. */
function knownHostsPairs(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(/\s+/).slice(0, 3).join(' '))
    .sort();
}

const sortedLines = (s: string) =>
  s
    .split('\n')
    .filter((l) => l !== '')
    .sort()
    .join('\n');

type Path = 'proxy' | 'khc' | 'kfu';
interface SizeResult {
  n: number;
  hosts: number;
  people: number;
  certifications: number;
  genMs: number;
  importMs: number;
  trustdbMs: number;
  firstMs: number;
  changed: Record<Path, number>;
  ours: Record<Path, number[]>;
  orig: { proxy: number[]; kfu: number[] };
  bare: number[];
  load: [number[], number[]];
}

async function measure(base: string, ms043: string, n: number): Promise<SizeResult> {
  const dir = mkdtempSync(join(base, `n${n}-`));
  const gnupg = join(dir, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  try {
    return await measureIn(dir, gnupg, ms043, n);
  } finally {
    // gpg --import starts a gpg-agent for the home; it goes with the home.
    spawnSync('gpgconf', ['--homedir', gnupg, '--kill', 'all'], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureIn(dir: string, gnupg: string, ms043: string, n: number): Promise<SizeResult> {
  const loadStart = loadavg();
  let t = performance.now();
  const web = makeWeb(n);
  const genMs = performance.now() - t;
  const { NODE_EXTRA_CA_CERTS: _drop, ...inherited } = process.env;
  const common: NodeJS.ProcessEnv = { ...inherited, GNUPGHOME: gnupg, MONKEYSPHERE_CHECK_KEYSERVER: 'false', MONKEYSPHERE_SYSCONFIGDIR: join(dir, 'etc') };
  mkdirSync(join(dir, 'etc'), { mode: 0o755 });
  const gpg = (args: string[], input?: Buffer) => ok(`gpg ${args.join(' ')}`, run('gpg', ['--batch', '--no-tty', '--quiet', ...args], common, input));
  t = performance.now();
  writeFileSync(join(dir, 'web.pgp'), web.bytes);
  gpg(['--import', join(dir, 'web.pgp')]);
  const importMs = performance.now() - t;
  gpg(['--import-ownertrust'], Buffer.from(web.ownertrust));
  t = performance.now();
  gpg(['--check-trustdb']);
  const trustdbMs = performance.now() - t;
  // The web is what it should be: gpg itself finds the hosts fully valid.
  const listed = gpg(['--with-colons', '--fixed-list-mode', '--list-keys', `=ssh://${web.hosts[0]}`]).stdout;
  if (!/^uid:f:/m.test(listed)) throw new Error(`gpg does not find ssh://${web.hosts[0]} fully valid:\n${listed}`);

  // One HOME each: known_hosts and ~/.monkeysphere are the tool's own; the keyring is shared.
  const homeFor = (name: string) => {
    const home = join(dir, name);
    mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, '.ssh', 'known_hosts'), '', { mode: 0o600 });
    return home;
  };
  const oursHome = homeFor('ours');
  const origHome = homeFor('orig');
  const oursEnv: NodeJS.ProcessEnv = { ...common, HOME: oursHome, XDG_CACHE_HOME: join(oursHome, '.cache') };
  const origEnv: NodeJS.ProcessEnv = {
    ...common,
    HOME: origHome,
    PATH: `${ms043}/src:${ms043}/src/share:${process.env.PATH}`,
    MONKEYSPHERE_SYSSHAREDIR: `${ms043}/src/share`,
  };
  const msBin = join(ROOT, 'bin/monkeysphere.js');
  const prof = process.env.BENCH_PROF;
  const ours = (args: string[], env = oursEnv, profile = false) =>
    ok(`monkeysphere ${args.join(' ')}`, run(process.execPath, [...(profile && prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`, `--cpu-prof-name=n${n}-${args[0]}-${Date.now()}.cpuprofile`] : []), msBin, ...args], env));
  const orig = (args: string[]) => ok(`0.43 monkeysphere ${args.join(' ')}`, run(join(ms043, 'src/monkeysphere'), args, origEnv));
  const call: Record<Path, (host: string, profile?: boolean) => Ran> = {
    proxy: (h, p) => ours(['ssh-proxycommand', '--no-connect', h], oursEnv, p),
    khc: (h, p) => ours(['known-hosts-command', h], oursEnv, p),
    kfu: (h, p) => ours(['keys-for-userid', `ssh://${h}`], oursEnv, p),
  };
  const hosts = web.hosts.slice(0, QUERIED_HOSTS);

  // Cold: the first call ever (empty cache store), then each path's first call after the
  // keyring changed (one certificate imported; verification cache warm).
  const firstMs = call.proxy(hosts[0]).ms;
  const changed = {} as Record<Path, number>;
  for (const path of ['proxy', 'khc', 'kfu'] as Path[]) {
    gpg(['--import'], web.extra());
    changed[path] = call[path](hosts[0], true).ms;
  }
  // Trust as gpg computes it for the changed keyring, so 0.43 does not rebuild it in a call.
  gpg(['--check-trustdb']);

  // Warm-up: every queried host once per tool through ssh-proxycommand (known_hosts then
  // holds them all, as it will for the measured calls), then every path a few more times.
  for (const h of hosts) {
    call.proxy(h);
    orig(['ssh-proxycommand', '--no-connect', h]);
  }
  for (let i = 0; i < WARMUP; i++) {
    const h = hosts[i % hosts.length];
    call.khc(h);
    call.kfu(h);
    orig(['keys-for-userid', `ssh://${h}`]);
  }
  const stateBefore = homeFiles(gnupg);
  const stored = ours(['keys-for-userid', `ssh://${hosts[0]}`], { ...oursEnv, MONKEYSPHERE_LOG_LEVEL: 'DEBUG' });
  if (!/user IDs of .*: stored/.test(stored.stderr)) throw new Error(`our warm call did not answer from the kept index:\n${stored.stderr}`);
  call.khc(hosts[0], true);

  const res: SizeResult = {
    n,
    hosts: web.hosts.length,
    people: web.people,
    certifications: web.certifications,
    genMs,
    importMs,
    trustdbMs,
    firstMs,
    changed,
    ours: { proxy: [], khc: [], kfu: [] },
    orig: { proxy: [], kfu: [] },
    bare: [],
    load: [loadStart, []],
  };
  for (let i = 0; i < CALLS; i++) {
    const h = hosts[i % hosts.length];
    res.ours.proxy.push(call.proxy(h).ms);
    res.orig.proxy.push(orig(['ssh-proxycommand', '--no-connect', h]).ms);
    const khc = call.khc(h);
    res.ours.khc.push(khc.ms);
    const a = call.kfu(h);
    const b = orig(['keys-for-userid', `ssh://${h}`]);
    res.ours.kfu.push(a.ms);
    res.orig.kfu.push(b.ms);
    if (a.stdout.trim() === '' || sortedLines(a.stdout) !== sortedLines(b.stdout)) {
      throw new Error(`keys-for-userid ssh://${h}: the tools disagree.\nours:\n${a.stdout}\n0.43:\n${b.stdout}`);
    }
    if (!khc.stdout.includes(a.stdout.trim().split('\n')[0])) throw new Error(`known-hosts-command ${h} does not print the key keys-for-userid gives:\n${khc.stdout}`);
    if (i % 5 === 0) res.bare.push(run(process.execPath, ['-e', '0'], oursEnv).ms);
  }
  res.load[1] = loadavg();
  if (homeFiles(gnupg) !== stateBefore) throw new Error('the GnuPG home changed during the measured calls: the figures mix warm and cold calls');
  const stillStored = ours(['keys-for-userid', `ssh://${hosts[0]}`], { ...oursEnv, MONKEYSPHERE_LOG_LEVEL: 'DEBUG' });
  if (!/user IDs of .*: stored/.test(stillStored.stderr)) throw new Error(`our calls stopped answering from the kept index (was the build replaced?):\n${stillStored.stderr}`);
  const ko = knownHostsPairs(join(oursHome, '.ssh/known_hosts'));
  const kr = knownHostsPairs(join(origHome, '.ssh/known_hosts'));
  if (ko.join('\n') !== kr.join('\n') || ko.length !== hosts.length) {
    throw new Error(`known_hosts differ after ssh-proxycommand:\nours:\n${ko.join('\n')}\n0.43:\n${kr.join('\n')}`);
  }
  return res;
}

async function main(): Promise<void> {
  ensureBuilt();
  if (!existsSync(join(ROOT, 'dist/cli/monkeysphere.js'))) throw new Error('not built: npm run build');
  const build = buildIdentity();
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  for (const tool of ['gpg', 'lockfile-create', 'ssh-keygen']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed (scripts/setup.sh installs it)`);
  }
  const parent = process.env.BENCH_TMPDIR || join(homedir(), '.cache');
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  const base = mkdtempSync(join(parent, 'ms-bench-user-'));
  const results: SizeResult[] = [];
  try {
    const ms043 = install043(base);
    for (const n of SIZES) {
      results.push(await measure(base, ms043, n));
      // A rebuild meanwhile (others work in this checkout) would mix two builds in one table.
      if (buildIdentity() !== build) throw new Error(`the build changed during the run (was ${build}, now ${buildIdentity()}): run again`);
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }

  const m = (x: number) => `${x.toFixed(0)} ms`;
  const r = (a: number, b: number) => `${(a / b).toFixed(1)}×`;
  const gpgVersion = spawnSync('gpg', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  console.log(`monkeysphere per-connection paths against Monkeysphere 0.43 (${gpgVersion}), whole processes, ${CALLS} calls each after warm-up`);
  console.log(`  ours: bin/monkeysphere.js at ${commit || 'unknown commit'} running ${build}`);
  console.log(`  machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`);
  for (const x of results) {
    console.log(
      `  ${x.n} certificates (${x.people} people, ${x.hosts} hosts, ${x.certifications} certifications): made in ${(x.genMs / 1000).toFixed(1)} s, gpg --import ${(x.importMs / 1000).toFixed(1)} s, gpg --check-trustdb ${(x.trustdbMs / 1000).toFixed(1)} s; load average ${x.load[0].map((l) => l.toFixed(2)).join(' ')} at the start, ${x.load[1].map((l) => l.toFixed(2)).join(' ')} at the end`,
    );
  }
  console.log('');
  console.log('| certificates | path (whole process) | ours p50 | ours p95 | 0.43 p50 | 0.43 p95 | 0.43 / ours, p50 | 0.43 / ours, p95 |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|');
  for (const x of results) {
    const row = (label: string, o: number[], g: number[]) =>
      console.log(`| ${x.n.toLocaleString('en')} | ${label} | ${m(percentile(o, 50))} | ${m(percentile(o, 95))} | ${m(percentile(g, 50))} | ${m(percentile(g, 95))} | ${r(percentile(g, 50), percentile(o, 50))} | ${r(percentile(g, 95), percentile(o, 95))} |`);
    row('ssh-proxycommand --no-connect hostK', x.ours.proxy, x.orig.proxy);
    row("known-hosts-command hostK (0.43: its ssh-proxycommand)", x.ours.khc, x.orig.proxy);
    row('keys-for-userid ssh://hostK', x.ours.kfu, x.orig.kfu);
  }
  console.log('');
  console.log('| certificates | our first call after the keyring changed (once) | time | 0.43 p50 of the same path | 0.43 / ours |');
  console.log('|---:|---|---:|---:|---:|');
  for (const x of results) {
    const g = { proxy: percentile(x.orig.proxy, 50), khc: percentile(x.orig.proxy, 50), kfu: percentile(x.orig.kfu, 50) };
    console.log(`| ${x.n.toLocaleString('en')} | ssh-proxycommand, empty cache store (first call ever) | ${m(x.firstMs)} | ${m(g.proxy)} | ${r(g.proxy, x.firstMs)} |`);
    console.log(`| ${x.n.toLocaleString('en')} | ssh-proxycommand, one certificate imported | ${m(x.changed.proxy)} | ${m(g.proxy)} | ${r(g.proxy, x.changed.proxy)} |`);
    console.log(`| ${x.n.toLocaleString('en')} | known-hosts-command, one certificate imported | ${m(x.changed.khc)} | ${m(g.khc)} | ${r(g.khc, x.changed.khc)} |`);
    console.log(`| ${x.n.toLocaleString('en')} | keys-for-userid, one certificate imported | ${m(x.changed.kfu)} | ${m(g.kfu)} | ${r(g.kfu, x.changed.kfu)} |`);
  }
  console.log('');
  for (const x of results) {
    console.log(`(${x.n} certificates: node -e 0 median ${m(percentile(x.bare, 50))} over ${x.bare.length} runs in the same loop; ours min/max: proxy ${m(Math.min(...x.ours.proxy))}/${m(Math.max(...x.ours.proxy))}, known-hosts-command ${m(Math.min(...x.ours.khc))}/${m(Math.max(...x.ours.khc))}, keys-for-userid ${m(Math.min(...x.ours.kfu))}/${m(Math.max(...x.ours.kfu))})`);
  }
  console.log('keys-for-userid: both tools printed the same keys on every call; known_hosts: the same host keys after ssh-proxycommand.');
}

await main();
