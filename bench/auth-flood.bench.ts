/**
 * Certificate flooding (CVE-2019-13050; issue 9, finding 9), as whole processes: three
 * certificates carrying one listed user ID, each with 100,000 junk certifications by
 * unknown issuers (random issuers and values, as the 2019 SKS floods), served by an HKP
 * stand-in on loopback, each answer within the client's 16 MiB limit. One of them is the
 * real user's, certified by the identity certifier, whose certification is older than all
 * the junk. Measured, each in a fresh process with wall time and peak memory (GNU time's
 * maximum resident set size):
 * - `monkeysphere-authentication update-users root` on a fresh store (fetches all three);
 * - the same again (the store already holds what it keeps; the flood is fetched again);
 * - `gpg-cmd --import` of one flooded certificate, and of all three, into a fresh store;
 * - the anchor: gpg 2.2 `--import` of the same one and three certificates into a throwaway
 *   home (no trust computation), with the ratio ours / gpg.
 * Checks each run: the user still gets his key, and the store keeps at most the budget.
 *
 * Usage: node --import tsx bench/auth-flood.bench.ts [--runs N] [--junk N] [--certs N] [--certified N] [--dist DIR]
 * (--certified: how many of the certificates the certifier has certified, default 1;
 * --dist: measure another build's dist/ directory, e.g. one made from an earlier commit;
 * other arguments, such as those scripts/bench.sh passes to every benchmark, are ignored.)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { UNKNOWN_ISSUER_BUDGET } from '../src/auth/ingest.js';
import { AuthStore } from '../src/auth/store.js';
import { readCerts } from '../src/openpgp/cert.js';
import { ensureBuilt } from '../test/auth/harness.js';
import { CREATED, NOW, Person } from '../test/auth/pki.js';
import { secureTmpDir } from '../test/helpers/sshd.js';
import { flooded, HkpStandIn } from '../test/security/flood.js';

const ROOT = new URL('../', import.meta.url).pathname;
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
};
const RUNS = Math.max(1, Number(arg('runs', '3')));
const JUNK = Number(arg('junk', '100000'));
const CERTS = Math.max(1, Number(arg('certs', '3')));
/** How many of the flooded certificates the certifier has certified (reached by the web of trust). */
const CERTIFIED = Math.min(CERTS, Number(arg('certified', '1')));
const DIST = arg('dist', join(ROOT, 'dist'));
const UID = 'Bob <bob@example.net>';

interface Measured {
  wallMs: number;
  maxRssKb: number;
  cpuS: number;
  status: number;
  stderr: string;
}

/** Runs a command under GNU time, without blocking this process (the keyserver stand-in answers from here). */
function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<Measured> {
  const out = join(env.BENCH_TMP ?? '/tmp', `time.${process.pid}.${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-o', out, '-f', '%e %M %U %S', cmd, ...args], { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        const [e, m, u, s] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
        rmSync(out, { force: true });
        resolve({ wallMs: e * 1000, maxRssKb: m, cpuS: u + s, status: code ?? -1, stderr });
      } catch (err) {
        reject(err);
      }
    });
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;

async function main(): Promise<void> {
  if (DIST === join(ROOT, 'dist')) ensureBuilt();
  if (!existsSync(join(DIST, 'cli/monkeysphere-authentication.js'))) throw new Error(`no build in ${DIST}`);
  const dir = secureTmpDir('ms-bench-flood-');
  const keyserver = await HkpStandIn.start();
  const people: Person[] = [];
  try {
    // The runner the bin/ wrapper is, for any dist/ directory.
    const runner = join(dir, 'runner.mjs');
    writeFileSync(runner, `const { main } = await import(${JSON.stringify(`file://${join(DIST, 'cli/monkeysphere-authentication.js')}`)});\nprocess.exitCode = await main(process.argv.slice(2));\n`);

    const t = performance.now();
    const admin = new Person(['Admin <admin@example.net>']);
    people.push(admin);
    const floods: Buffer[] = [];
    for (let i = 0; i < CERTS; i++) {
      const p = new Person([UID]);
      if (i < CERTIFIED) p.certifiedBy(admin, UID, CREATED + 86400);
      people.push(p);
      floods.push(flooded(p.cert, UID, JUNK, NOW - 60));
    }
    const bob = people[1];
    const genMs = performance.now() - t;
    keyserver.serve(floods);
    const oneFile = join(dir, 'one.pgp');
    const allFile = join(dir, 'all.pgp');
    writeFileSync(oneFile, floods[0]);
    writeFileSync(allFile, Buffer.concat(floods));

    const home = join(dir, 'home');
    mkdirSync(home, { mode: 0o755 });
    const uidsFile = join(home, 'authorized_user_ids');
    writeFileSync(uidsFile, `${UID}\n`, { mode: 0o644 });
    const envFor = (data: string): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      BENCH_TMP: dir,
      MONKEYSPHERE_SYSCONFIGDIR: join(data, 'etc'),
      MONKEYSPHERE_SYSDATADIR: join(data, 'var'),
      MONKEYSPHERE_AUTHORIZED_USER_IDS: uidsFile,
      MONKEYSPHERE_RAW_AUTHORIZED_KEYS: 'none',
      MONKEYSPHERE_CHECK_KEYSERVER: 'true',
      MONKEYSPHERE_KEYSERVER: keyserver.url,
      MONKEYSPHERE_PROMPT: 'false',
      MONKEYSPHERE_MONKEYSPHERE_USER: 'root',
      MONKEYSPHERE_TEST_NOW: String(NOW),
    });
    const ma = (env: NodeJS.ProcessEnv, args: string[], input?: Buffer) => measure(process.execPath, [runner, ...args], env, input);
    const ok = (what: string, r: Measured) => {
      if (r.status !== 0) throw new Error(`${what} exited ${r.status}: ${r.stderr.slice(0, 2000)}`);
      return r;
    };
    /** A fresh data directory with the certifier added (not measured). */
    let n = 0;
    const fresh = async () => {
      const data = join(dir, `data${n++}`);
      mkdirSync(join(data, 'etc'), { recursive: true, mode: 0o755 });
      const env = envFor(data);
      ok('setup', await ma(env, ['setup']));
      ok('add-id-certifier', await ma(env, ['add-id-certifier', '-'], admin.bytes));
      return { env, data };
    };
    /** Signatures the store holds on the flooded certificates, at most. */
    const storedMax = async (data: string) => {
      const store = await AuthStore.open(join(data, 'var/authentication/store.sqlite'));
      try {
        let max = 0;
        let bytes = 0;
        for await (const c of store.certs.all()) {
          const user = c.cert.users.find((u) => u.text === UID);
          if (user) max = Math.max(max, user.signatures.length);
          if (user) bytes += c.bytes.length;
        }
        return { max, bytes };
      } finally {
        await store.close();
      }
    };

    const rows = new Map<string, Measured[]>();
    const push = (name: string, m: Measured) => rows.set(name, [...(rows.get(name) ?? []), m]);
    const kept: number[] = [];
    let keptBytes = 0;
    const load0 = loadavg()[0];
    for (let run = 0; run < RUNS; run++) {
      {
        const { env, data } = await fresh();
        push('update-users, fresh store', ok('update-users', await ma(env, ['update-users', 'root'])));
        const keys = readFileSync(join(data, 'var/authorized_keys/root'), 'utf8');
        if (!keys.includes(bob.sshKey)) throw new Error(`update-users did not grant Bob's key:\n${keys}`);
        const held = await storedMax(data);
        kept.push(held.max);
        keptBytes = held.bytes;
        push('update-users again (same flood fetched again)', ok('update-users again', await ma(env, ['update-users', 'root'])));
      }
      {
        const { env } = await fresh();
        push('gpg-cmd --import, 1 certificate', ok('gpg-cmd --import', await ma(env, ['gpg-cmd', '--import', oneFile])));
      }
      {
        const { env } = await fresh();
        push(`gpg-cmd --import, ${CERTS} certificates`, ok('gpg-cmd --import', await ma(env, ['gpg-cmd', '--import', allFile])));
      }
      for (const [name, file] of [
        ['gpg --import, 1 certificate', oneFile],
        [`gpg --import, ${CERTS} certificates`, allFile],
      ] as const) {
        const gnupg = join(dir, `gnupg${n++}`);
        mkdirSync(gnupg, { mode: 0o700 });
        const r = await measure('gpg', ['--homedir', gnupg, '--batch', '--no-tty', '--no-auto-check-trustdb', '--import', file], { ...process.env, LC_ALL: 'C', BENCH_TMP: dir });
        spawnSync('gpgconf', ['--homedir', gnupg, '--kill', 'all']);
        if (run === 0) {
          const sigs = spawnSync('gpg', ['--homedir', gnupg, '--batch', '--with-colons', '--list-sigs'], { encoding: 'utf8', maxBuffer: 1 << 30 }).stdout.split('\n').filter((l) => l.startsWith('sig:')).length;
          spawnSync('gpgconf', ['--homedir', gnupg, '--kill', 'all']);
          const said = r.stderr.split('\n').filter((l) => /error|too large|imported|processed|skipped|not changed/i.test(l)).map((l) => l.trim());
          console.error(`${name}: exit ${r.status}, ${sigs} signatures in the keyring afterwards; gpg said: ${said.slice(0, 6).join(' | ')}`);
        }
        push(name, r);
      }
      process.stderr.write(`run ${run + 1}/${RUNS} done\n`);
    }

    const cert0 = readCerts(floods[0]).certs[0];
    console.log(`certificate flooding: ${CERTS} certificates under one listed user ID (${CERTIFIED} certified by the identity certifier), ${JUNK.toLocaleString('en-US')} junk certifications each (${(floods[0].length / 1048576).toFixed(1)} MiB binary per certificate, ${cert0.users[0].signatures.length.toLocaleString('en-US')} signatures on its user ID), served by an HKP stand-in on loopback`);
    console.log(`  build measured: ${DIST}; inputs generated in ${secs(genMs)}; ${RUNS} runs, median (best); each measurement a fresh process under GNU time`);
    console.log(`  machine: ${availableParallelism()} cores, load average ${load0.toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end; gpg ${spawnSync('gpg', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].split(' ').pop()}`);
    console.log(`  signatures kept on the flooded user ID by update-users (largest of the ${CERTS} certificates): ${kept.join(', ')} (budget ${UNKNOWN_ISSUER_BUDGET} + self-signature + certifier's); the ${CERTS} certificates take ${(keptBytes / 1024).toFixed(1)} KiB in the store`);
    console.log('');
    console.log('| measurement | wall time | peak memory (max RSS) | CPU time (user+sys) |');
    console.log('|---|---:|---:|---:|');
    const cell = (xs: number[], f: (x: number) => string) => `${f(median(xs))} (${f(Math.min(...xs))})`;
    for (const [name, ms] of rows) {
      console.log(`| ${name} | ${cell(ms.map((m) => m.wallMs), secs)} | ${cell(ms.map((m) => m.maxRssKb), mb)} | ${cell(ms.map((m) => m.cpuS * 1000), secs)} |`);
    }
    console.log('');
    const ratio = (ours: string, theirs: string) => {
      const a = rows.get(ours)!;
      const b = rows.get(theirs)!;
      const r = (f: (m: Measured) => number) => (median(a.map(f)) / median(b.map(f))).toFixed(2);
      console.log(`| ${ours} / ${theirs} | ${r((m) => m.wallMs)}x | ${r((m) => m.maxRssKb)}x |`);
    };
    console.log('| ratio (ours / gpg 2.2), medians | wall time | peak memory |');
    console.log('|---|---:|---:|');
    ratio('gpg-cmd --import, 1 certificate', 'gpg --import, 1 certificate');
    ratio(`gpg-cmd --import, ${CERTS} certificates`, `gpg --import, ${CERTS} certificates`);
    ratio('update-users, fresh store', `gpg --import, ${CERTS} certificates`);
  } finally {
    await keyserver.stop();
    for (const p of people) p.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
