/**
 * Start-up of the commands, as whole processes (what sshd pays per login for the
 * AuthorizedKeysCommand, and ssh per connection for the user tool's commands): for each
 * measurement, the unbundled dist/ (tsc's ES modules, imported as the shims used to) and
 * the fast path the shims take now (the one-file bundle with its V8 code cache,
 * scripts/build.ts), interleaved round by round so load on the machine hits both alike;
 * p50 and p95, and the ratio dist / fast path. NODE_EXTRA_CA_CERTS is unset, as under sshd
 * and cron (it costs ~40 ms). `node -e 0` is the floor.
 * Measured: `--version` and `--help` of monkeysphere-authentication-keys-for-user,
 * monkeysphere-authentication and monkeysphere, and a real keys-for-user call on a small
 * store (one identity certifier, one certified user, the answer precomputed).
 *
 * Usage: node --import tsx bench/startup.bench.ts [--rounds N]
 * (other arguments, such as those scripts/bench.sh passes to every benchmark, are ignored.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { AuthServer, ensureBuilt } from '../test/auth/harness.js';
import { Person } from '../test/auth/pki.js';

const ROOT = new URL('../', import.meta.url).pathname;
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = Math.max(5, arg('rounds', 40));
const WARMUP = 3;
const KFU = 'monkeysphere-authentication-keys-for-user';
const BOB = 'Bob <bob@example.net>';

interface Case {
  label: string;
  /** argv after node: the unbundled dist/ runner and the shim. */
  dist: string[];
  fast: string[];
  env: NodeJS.ProcessEnv;
  /** What stdout must start with. */
  expect: string;
}

function time(args: string[], env: NodeJS.ProcessEnv, expect: string): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0 || !r.stdout.startsWith(expect)) throw new Error(`node ${args.join(' ')}: exit ${r.status}, stdout ${JSON.stringify(r.stdout.slice(0, 200))}, stderr ${r.stderr.slice(0, 2000)}`);
  return ms;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (x: number) => `${x.toFixed(0)} ms`;

async function main(): Promise<void> {
  ensureBuilt();
  if (!existsSync(join(ROOT, 'dist/bundle', `${KFU}.cjs`))) throw new Error('no bundles in dist/bundle/: npm run build');
  const server = new AuthServer();
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  try {
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
    server.writeUserIds(`${BOB}\n`);
    await server.ok(['update-users', 'root']);

    const env: NodeJS.ProcessEnv = { ...server.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_OPTIONS;
    /** Runs dist/cli/<name>.js's main as the shims did before the bundles. */
    const runner = (name: string) => {
      const path = join(server.root, `dist-${name}.mjs`);
      writeFileSync(path, `const { main } = await import(${JSON.stringify(`file://${join(ROOT, 'dist/cli', `${name}.js`)}`)});\nprocess.exitCode = await main(process.argv.slice(2));\n`);
      return path;
    };
    const shim = (name: string) => join(ROOT, 'bin', `${name}.js`);
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
    const cases: Case[] = [];
    for (const name of [KFU, 'monkeysphere-authentication', 'monkeysphere']) {
      if (name !== KFU) cases.push({ label: `${name} --version`, dist: [runner(name), '--version'], fast: [shim(name), '--version'], env, expect: version });
      cases.push({ label: `${name} --help`, dist: [runner(name), '--help'], fast: [shim(name), '--help'], env, expect: `usage: ${name}` });
    }
    cases.push({ label: `${KFU} root (a login: store lookup)`, dist: [runner(KFU), 'root'], fast: [shim(KFU), 'root'], env, expect: 'ssh-ed25519 ' });

    const bare: number[] = [];
    const dist = cases.map(() => [] as number[]);
    const fast = cases.map(() => [] as number[]);
    for (let round = 0; round < ROUNDS + WARMUP; round++) {
      const keep = round >= WARMUP;
      const b = time(['-e', 'process.stdout.write("0")'], env, '0');
      if (keep) bare.push(b);
      cases.forEach((c, i) => {
        // Alternate which goes first, so neither always follows the other.
        const [first, second] = round % 2 === 0 ? [c.dist, c.fast] : [c.fast, c.dist];
        const t1 = time(first, c.env, c.expect);
        const t2 = time(second, c.env, c.expect);
        if (!keep) return;
        dist[i].push(round % 2 === 0 ? t1 : t2);
        fast[i].push(round % 2 === 0 ? t2 : t1);
      });
    }
    for (const xs of [bare, ...dist, ...fast]) xs.sort((a, b) => a - b);

    console.log(`command start-up: ${ROUNDS} rounds (after ${WARMUP} warm-up), each a fresh process, dist/ and fast path interleaved; NODE_EXTRA_CA_CERTS unset`);
    console.log(`  machine: ${availableParallelism()} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`);
    console.log('');
    console.log('| command | dist/ (ES modules): p50 / p95 | bundle + code cache (bin/ shim): p50 / p95 | dist / fast, p50 | above node -e 0, p50: dist → fast |');
    console.log('|---|---|---|---|---|');
    const floor = pct(bare, 50);
    console.log(`| node -e 0 | ${ms(floor)} / ${ms(pct(bare, 95))} | | | |`);
    cases.forEach((c, i) => {
      const d = pct(dist[i], 50);
      const f = pct(fast[i], 50);
      console.log(`| ${c.label} | ${ms(d)} / ${ms(pct(dist[i], 95))} | ${ms(f)} / ${ms(pct(fast[i], 95))} | ${(d / f).toFixed(2)}x | ${ms(d - floor)} → ${ms(f - floor)} |`);
    });
  } finally {
    server.cleanup();
    admin.cleanup();
    bob.cleanup();
  }
}

await main();
