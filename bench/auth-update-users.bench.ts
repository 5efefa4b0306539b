/**
 * monkeysphere-authentication at scale, as whole processes (the compiled commands):
 * - `update-users` for 1,000 accounts listing 3 user IDs each, against a store of 10,000
 *   Ed25519 certificates (3,000 of them certified by the one identity certifier), first
 *   right after the store changed (the bindings are recomputed) and then again;
 * - the AuthorizedKeysCommand, `monkeysphere-authentication-keys-for-user USER`, one
 *   process per call as sshd runs it: p50 and p95.
 * Accounts come from a stand-in `getent` on PATH (the real code path, 1,000 homes in a
 * temp dir). Prints the original Monkeysphere 0.43's figures for comparison; the original
 * is not installable here, so they are quoted, not measured.
 *
 * Usage: node --import tsx bench/auth-update-users.bench.ts [--accounts N] [--certs N] [--calls N] [--runs N]
 * (BENCH_PROF=DIR writes a CPU profile of the first update-users run there.)
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthStore } from '../src/auth/store.js';
import { keyPacketFor, signV4, sp, userIdPacket } from '../src/openpgp/build.js';
import { type Cert, readCerts } from '../src/openpgp/cert.js';
import type { KeyPacket } from '../src/openpgp/key-packet.js';
import { KeyFlag, SigType } from '../src/openpgp/signature.js';
import { sshFingerprint } from '../src/ssh/public-key.js';

const ROOT = new URL('../', import.meta.url).pathname;
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ACCOUNTS = arg('accounts', 1000);
const CERTS = arg('certs', 10_000);
const CALLS = arg('calls', 100);
const RUNS = arg('runs', 3);
const UIDS_PER_ACCOUNT = 3;
const NOW = 1673740800;
const CREATED = NOW - 365 * 86400;

interface Made {
  cert: Cert;
  primary: KeyPacket;
  privateKey: ReturnType<typeof generateKeyPairSync>['privateKey'];
}

function makeCert(uid: string, certifier?: Made): Made {
  const { privateKey } = generateKeyPairSync('ed25519');
  const primary = keyPacketFor(privateKey, CREATED);
  const user = userIdPacket(uid);
  const self = signV4(
    { kind: 'user', primary, user },
    { type: SigType.PositiveCert, signer: primary, privateKey, hashed: [sp.created(CREATED), sp.issuerFingerprint(primary), sp.keyFlags(KeyFlag.Certify | KeyFlag.Sign), sp.primaryUserId()] },
  );
  const raws = [primary.packet.raw, user.raw, self.packet.raw];
  if (certifier) {
    const c = signV4(
      { kind: 'user', primary, user },
      { type: SigType.GenericCert, signer: certifier.primary, privateKey: certifier.privateKey, hashed: [sp.created(CREATED + 86400), sp.issuerFingerprint(certifier.primary)] },
    );
    raws.push(c.packet.raw);
  }
  const sub = generateKeyPairSync('ed25519').privateKey;
  const subPacket = keyPacketFor(sub, CREATED, { subkey: true });
  const bind = signV4(
    { kind: 'subkey', primary, subkey: subPacket },
    { type: SigType.SubkeyBinding, signer: primary, privateKey, hashed: [sp.created(CREATED), sp.issuerFingerprint(primary), sp.keyFlags(KeyFlag.Authenticate)] },
  );
  raws.push(subPacket.packet.raw, bind.packet.raw);
  const cert = readCerts(Buffer.concat(raws)).certs[0];
  return { cert, primary: cert.primary, privateKey };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): { ms: number; status: number; stdout: string; stderr: string } {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env, input, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
  return { ms: performance.now() - t, status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist/cli/monkeysphere-authentication.js'))) {
    const b = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0 && !existsSync(join(ROOT, 'dist/cli/monkeysphere-authentication.js'))) throw new Error('build failed');
  }
  const dir = mkdtempSync(join(tmpdir(), 'ms-bench-auth-'));
  try {
    // Accounts: a passwd file, a stand-in getent, and one home per account.
    const homes = join(dir, 'home');
    mkdirSync(homes, { mode: 0o755 });
    const names = Array.from({ length: ACCOUNTS }, (_, i) => `msbench${String(i).padStart(5, '0')}`);
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, names.map((n) => `${n}:x:0:0:bench:${join(homes, n)}:/bin/sh\n`).join(''));
    const binDir = join(dir, 'bin');
    mkdirSync(binDir, { mode: 0o755 });
    writeFileSync(
      join(binDir, 'getent'),
      `#!/bin/sh\n[ "$1" = passwd ] || exit 1\nshift\n[ "$1" = "--" ] && shift\nif [ $# -eq 0 ]; then cat '${passwd}'; exit 0; fi\nrc=0\nfor n in "$@"; do grep "^$n:" '${passwd}' || rc=2; done\nexit $rc\n`,
    );
    chmodSync(join(binDir, 'getent'), 0o755);

    const env: NodeJS.ProcessEnv = {
      PATH: `${binDir}:${process.env.PATH}`,
      HOME: process.env.HOME,
      MONKEYSPHERE_SYSCONFIGDIR: join(dir, 'etc'),
      MONKEYSPHERE_SYSDATADIR: join(dir, 'var'),
      MONKEYSPHERE_RAW_AUTHORIZED_KEYS: 'none',
      MONKEYSPHERE_CHECK_KEYSERVER: 'false',
      MONKEYSPHERE_PROMPT: 'false',
      MONKEYSPHERE_MONKEYSPHERE_USER: 'root',
      MONKEYSPHERE_TEST_NOW: String(NOW),
    };
    const ma = join(ROOT, 'bin/monkeysphere-authentication.js');
    const kfu = join(ROOT, 'bin/monkeysphere-authentication-keys-for-user.js');

    let t = performance.now();
    const admin = makeCert('Admin <admin@example.net>');
    const userCount = ACCOUNTS * UIDS_PER_ACCOUNT;
    const certs: Cert[] = [];
    const uids: string[] = [];
    for (let i = 0; i < CERTS - 1; i++) {
      const uid = `User ${i} <user${i}@example.net>`;
      const certified = i < userCount;
      certs.push(makeCert(uid, certified ? admin : undefined).cert);
      if (certified) uids.push(uid);
    }
    const genMs = performance.now() - t;

    const setup = run(process.execPath, [ma, 'setup'], env);
    if (setup.status !== 0) throw new Error(`setup failed: ${setup.stderr}`);
    const addCert = run(process.execPath, [ma, 'add-id-certifier', '-'], env, Buffer.concat(admin.cert.packets.map((p) => p.raw)));
    if (addCert.status !== 0) throw new Error(`add-id-certifier failed: ${addCert.stderr}`);
    t = performance.now();
    const store = await AuthStore.open(join(dir, 'var/authentication/store.sqlite'));
    await store.putCerts(certs, NOW);
    await store.close();
    const loadMs = performance.now() - t;

    names.forEach((n, i) => {
      const d = join(homes, n, '.monkeysphere');
      mkdirSync(d, { recursive: true, mode: 0o755 });
      writeFileSync(join(d, 'authorized_user_ids'), `${uids.slice(i * UIDS_PER_ACCOUNT, (i + 1) * UIDS_PER_ACCOUNT).join('\n')}\n`, { mode: 0o644 });
    });

    const storePath = join(dir, 'var/authentication/store.sqlite');
    const ok = (what: string, r: ReturnType<typeof run>) => {
      if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr.slice(0, 2000)}`);
      return r.ms;
    };
    const updateUsers = (prof = false) => run(process.execPath, [...(prof && process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : []), ma, 'update-users'], env);
    // The store as loaded, before any update-users: each cold run starts from this copy.
    const pristine = `${storePath}.pristine`;
    copyFileSync(storePath, pristine);
    /** Back to the store as loaded (no precomputed bindings, nothing verified since) and no output files: the next run starts cold. */
    const forget = async () => {
      for (const f of [`${storePath}-wal`, `${storePath}-shm`]) rmSync(f, { force: true });
      copyFileSync(pristine, storePath);
      rmSync(join(dir, 'var/authorized_keys'), { recursive: true, force: true });
    };
    const cold: number[] = [];
    const warm: number[] = [];
    const one: number[] = [];
    const imp: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (i > 0) await forget();
      cold.push(ok('update-users', updateUsers(i === 0)));
      if (i === 0) {
        const first = readFileSync(join(dir, 'var/authorized_keys', names[0]), 'utf8');
        if (first.trim().split('\n').length !== UIDS_PER_ACCOUNT) throw new Error(`expected ${UIDS_PER_ACCOUNT} lines for ${names[0]}, got:\n${first}`);
      }
      warm.push(ok('update-users (again)', updateUsers()));
      // One certificate changed since the last run, nothing recomputed yet: update-users recomputes
      // (verification cache warm), as after an expiry or a change made by another program.
      const changed = await AuthStore.open(storePath);
      await changed.putCerts([makeCert(`Newcomer ${i} <newcomer${i}@example.net>`, admin).cert], NOW);
      await changed.close();
      one.push(ok('update-users (after one change)', updateUsers()));
      // An import through the tool recomputes at once, so the next update-users is a lookup.
      imp.push(ok('gpg-cmd --import', run(process.execPath, [ma, 'gpg-cmd', '--import'], env, Buffer.concat(makeCert(`Other ${i} <other${i}@example.net>`, admin).cert.packets.map((p) => p.raw)))));
    }

    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const name = names[(i * 7919) % names.length];
      const r = run(process.execPath, [kfu, name], env);
      if (r.status !== 0 || r.stdout.split('\n').length !== UIDS_PER_ACCOUNT + 1) throw new Error(`keys-for-user ${name} failed: ${r.status} ${r.stderr}`);
      times.push(r.ms);
    }
    times.sort((a, b) => a - b);
    // The same calls naming the offered key, as `AuthorizedKeysCommand … %u %f` does: the
    // decision is logged with the user ID, certificate and certifier (an explanation).
    const logged: number[] = [];
    const envLog = { ...env, MONKEYSPHERE_LOGIN_LOG: `file:${join(dir, 'login.log')}` };
    for (let i = 0; i < Math.min(CALLS, 30); i++) {
      const name = names[(i * 7919) % names.length];
      const first = run(process.execPath, [kfu, name], env).stdout.split('\n')[0];
      const offered = sshFingerprint(Buffer.from(first.split(' ')[1], 'base64'));
      const r = run(process.execPath, [kfu, name, offered], envLog);
      if (r.status !== 0 || !readFileSync(join(dir, 'login.log'), 'utf8').includes(`accepted ${offered}`)) throw new Error(`keys-for-user ${name} ${offered} failed: ${r.status} ${r.stderr}`);
      logged.push(r.ms);
    }
    logged.sort((a, b) => a - b);
    const bare: number[] = [];
    for (let i = 0; i < 10; i++) bare.push(run(process.execPath, ['-e', '0'], env).ms);

    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const m = (ms: number) => `${ms.toFixed(0)} ms`;
    const med = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
    const best = (xs: number[]) => Math.min(...xs);
    const both = (xs: number[]) => `${s(med(xs))} (best ${s(best(xs))})`;
    console.log(`monkeysphere-authentication: ${ACCOUNTS} accounts x ${UIDS_PER_ACCOUNT} user IDs, store of ${CERTS} Ed25519 certificates (${userCount} certified by one identity certifier)`);
    console.log(`  certificates generated in ${s(genMs)}, stored in ${s(loadMs)}; ${RUNS} runs of each update-users case, ${CALLS} keys-for-user calls`);
    console.log(`  machine: ${availableParallelism()} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log('');
    console.log('| measurement (whole process) | this implementation: median (best) | Monkeysphere 0.43 (quoted) | target |');
    console.log('|---|---|---|---|');
    console.log(`| update-users, all accounts, cold: bindings computed, verification cache empty | ${both(cold)} | 124 s | <= 2.5 s |`);
    console.log(`| update-users, all accounts, nothing changed | ${both(warm)} | 124 s | <= 2.5 s |`);
    console.log(`| update-users, all accounts, one certificate changed (recomputed, cache warm) | ${both(one)} | 124 s | <= 2.5 s |`);
    console.log(`| gpg-cmd --import of one certificate (recomputes the bindings) | ${both(imp)} | | |`);
    console.log(`| keys-for-user (AuthorizedKeysCommand), p50 | ${m(percentile(times, 50))} | 700-800 ms | <= 150 ms |`);
    console.log(`| keys-for-user (AuthorizedKeysCommand), p95 | ${m(percentile(times, 95))} | 700-800 ms | |`);
    console.log(`| keys-for-user USER %f (the decision logged with its certifier path), p50 | ${m(percentile(logged, 50))} | | |`);
    console.log(`| keys-for-user USER %f, p95 | ${m(percentile(logged, 95))} | | |`);
    console.log(`| (node -e 0, for scale), median | ${m(med(bare))} | | |`);
    console.log(`(keys-for-user: min ${m(times[0])}, max ${m(times[times.length - 1])})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
