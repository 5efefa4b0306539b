/**
 * Benchmark: parse Debian's keyring and verify every in-ring certification at the reference time
 * 2023-01-15, cold (empty SQLite verification cache in a temp dir) and warm (the same cache, new
 * process), against openpgp.js 6.3.2's own path (readKeys, then SignaturePacket.verify for each
 * in-ring certification, SHA-1 allowed). Each measurement runs in a fresh child process; the table
 * gives the median of the runs.
 *
 *   node --import tsx bench/verify-keyring.bench.ts [--runs N] [--keyring PATH] [--json FILE]
 * (VERIFY_BENCH_RUNS=N also sets the runs.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { VerificationCache } from '../src/verify/cache.js';

const DEFAULT_KEYRING = '/usr/share/keyrings/debian-keyring.gpg';
const REFERENCE_TIME = new Date('2023-01-15T00:00:00Z');
/** openpgp.js verifies through WebCrypto, whose jobs run on libuv's thread pool: with many awaited at once it uses every core. */
const OPENPGP_IN_FLIGHT = 64;

/** What one child process measures. Times in milliseconds. */
interface PhaseResult {
  phase: string;
  /** Read the file and parse it into certificates (and, for openpgp.js, key objects). */
  parseMs: number;
  /** Collect the in-ring certifications. */
  collectMs: number;
  verifyMs: number;
  totalMs: number;
  /** CPU time of the whole process (all threads) over the measured part. */
  cpuMs: number;
  checks: number;
  good: number;
  bad: number;
  cached?: number;
  verified?: number;
  /** Time inside the SQLite cache: lookups, and the one recording write. */
  lookupMs?: number;
  recordMs?: number;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
}

async function ours(phase: 'ours-cold' | 'ours-warm', keyring: string, db: string): Promise<PhaseResult> {
  const [{ readCerts }, { Keyring }, { certificationChecks }, { Verifier }, { SqliteDatabase, SqliteVerificationCache }] = await Promise.all([
    import('../src/openpgp/cert.js'),
    import('../src/keyring/keyring.js'),
    import('../src/verify/checks.js'),
    import('../src/verify/verifier.js'),
    import('../src/store/sqlite/index.js'),
  ]);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { certs } = readCerts(readFileSync(keyring));
  const ring = new Keyring(certs);
  const t1 = performance.now();
  const checks = certificationChecks(ring, Math.floor(REFERENCE_TIME.getTime() / 1000));
  const t2 = performance.now();
  const database = SqliteDatabase.open(db);
  const sqlite = new SqliteVerificationCache(database);
  let lookupMs = 0;
  let recordMs = 0;
  const timed: VerificationCache = {
    async lookup(keys) {
      const t = performance.now();
      const r = await sqlite.lookup(keys);
      lookupMs += performance.now() - t;
      return r;
    },
    async record(entries) {
      const t = performance.now();
      await sqlite.record(entries);
      recordMs += performance.now() - t;
    },
  };
  const verifier = new Verifier({ cache: timed });
  const results = await verifier.verify(checks);
  database.close();
  const t3 = performance.now();
  const good = results.filter(Boolean).length;
  return {
    phase,
    parseMs: t1 - t0,
    collectMs: t2 - t1,
    verifyMs: t3 - t2,
    totalMs: t3 - t0,
    cpuMs: cpuMs(cpu0),
    checks: checks.length,
    good,
    bad: checks.length - good,
    cached: verifier.stats.cached,
    verified: verifier.stats.verified,
    lookupMs,
    recordMs,
  };
}

/** openpgp.js's own path; `inFlight` verifications awaited at once (1: one after the other, as a plain loop does). */
async function openpgpjs(keyring: string, inFlight: number): Promise<PhaseResult> {
  const openpgp = await import('openpgp');
  const config = { ...openpgp.config, rejectHashAlgorithms: new Set<number>() };
  const limit = REFERENCE_TIME.getTime();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const keys = await openpgp.readKeys({ binaryKeys: readFileSync(keyring), config });
  const t1 = performance.now();
  const byFpr = new Map(keys.map((k) => [k.getFingerprint().toUpperCase(), k]));
  const byKeyId = new Map<string, typeof keys>();
  for (const k of keys) {
    const id = k.getKeyID().toHex().toUpperCase();
    byKeyId.set(id, [...(byKeyId.get(id) ?? []), k]);
  }
  type Check = { sig: InstanceType<typeof openpgp.SignaturePacket>; issuer: (typeof keys)[number]; key: (typeof keys)[number]; user: (typeof keys)[number]['users'][number] };
  const checks: Check[] = [];
  for (const key of keys) {
    for (const user of key.users) {
      for (const sig of user.otherCertifications) {
        if (sig.signatureType === null || sig.signatureType < 0x10 || sig.signatureType > 0x13) continue;
        if (sig.created && sig.created.getTime() > limit) continue;
        // As our Keyring.issuerCandidates: by issuer fingerprint when named, else every primary with the key ID.
        const issuers = sig.issuerFingerprint
          ? [byFpr.get(Buffer.from(sig.issuerFingerprint).toString('hex').toUpperCase())].filter((k) => k !== undefined)
          : (byKeyId.get(sig.issuerKeyID.toHex().toUpperCase()) ?? []);
        for (const issuer of issuers) if (issuer !== key) checks.push({ sig, issuer, key, user });
      }
    }
  }
  const t2 = performance.now();
  let good = 0;
  let next = 0;
  // date null (the d.ts omits it): cryptographic validity only, as our Verifier (time is policy, decided elsewhere).
  const noDate = null as unknown as Date;
  const lane = async () => {
    while (next < checks.length) {
      const { sig, issuer, key, user } = checks[next++];
      try {
        await sig.verify(issuer.keyPacket, sig.signatureType!, { userID: user.userID, userAttribute: user.userAttribute, key: key.keyPacket }, noDate, false, config);
        good++;
      } catch {
        // A bad signature.
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const t3 = performance.now();
  return {
    phase: inFlight === 1 ? 'openpgp' : 'openpgp-parallel',
    parseMs: t1 - t0,
    collectMs: t2 - t1,
    verifyMs: t3 - t2,
    totalMs: t3 - t0,
    cpuMs: cpuMs(cpu0),
    checks: checks.length,
    good,
    bad: checks.length - good,
  };
}

// ------------------------------------------------------------------------------------------------
// Parent: run the children, print the table.

function runChild(args: string[]): PhaseResult {
  const r = spawnSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`benchmark child ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as PhaseResult;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmtMs = (ms: number) => `${Math.round(ms)} ms`;
const fmtRate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')}/s`;

async function main(): Promise<void> {
  // Not strict: scripts/bench.sh passes the same arguments to every benchmark.
  const { values } = parseArgs({
    strict: false,
    options: {
      phase: { type: 'string' },
      db: { type: 'string' },
      keyring: { type: 'string', default: DEFAULT_KEYRING },
      runs: { type: 'string', default: process.env.VERIFY_BENCH_RUNS ?? '3' },
      json: { type: 'string' },
    },
  });
  const keyring = String(values.keyring);
  if (typeof values.phase === 'string') {
    const result =
      values.phase === 'openpgp'
        ? await openpgpjs(keyring, 1)
        : values.phase === 'openpgp-parallel'
          ? await openpgpjs(keyring, OPENPGP_IN_FLIGHT)
          : await ours(values.phase as 'ours-cold' | 'ours-warm', keyring, String(values.db));
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }

  const runs = Math.max(1, Number(values.runs));
  const load0 = loadavg();
  const started = new Date();
  const all: PhaseResult[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'ms-bench-'));
    try {
      const db = join(dir, 'cache.sqlite');
      all.push(runChild(['--phase', 'ours-cold', '--db', db, '--keyring', keyring]));
      all.push(runChild(['--phase', 'ours-warm', '--db', db, '--keyring', keyring]));
      all.push(runChild(['--phase', 'openpgp', '--keyring', keyring]));
      all.push(runChild(['--phase', 'openpgp-parallel', '--keyring', keyring]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    process.stderr.write(`run ${i + 1}/${runs} done\n`);
  }
  const load1 = loadavg();

  const of = (phase: string) => all.filter((r) => r.phase === phase);
  const med = (phase: string, field: keyof PhaseResult) => median(of(phase).map((r) => r[field] as number));
  const cold = of('ours-cold');
  const warm = of('ours-warm');
  const seq = of('openpgp');
  const par = of('openpgp-parallel');
  const n = cold[0].checks;

  const same = (rs: PhaseResult[]) => rs.every((r) => r.checks === rs[0].checks && r.good === rs[0].good);
  if (!same([...cold, ...warm]) || !same([...seq, ...par])) throw new Error('results differ between runs');
  if (warm.some((r) => r.verified !== 0)) throw new Error('the warm run verified signatures: the cache did not answer');
  const equal = cold[0].checks === seq[0].checks && cold[0].good === seq[0].good;

  // phase label, ours, openpgp.js one at a time, openpgp.js many in flight, certifications for the rate
  type Row = [string, number, number, number, number | undefined];
  const rows: Row[] = [
    ['parse (ours: readCerts + Keyring; openpgp.js: readKeys)', med('ours-cold', 'parseMs'), med('openpgp', 'parseMs'), med('openpgp-parallel', 'parseMs'), undefined],
    ['verify, cold (empty SQLite cache)', med('ours-cold', 'verifyMs'), med('openpgp', 'verifyMs'), med('openpgp-parallel', 'verifyMs'), n],
    ['**parse + collect + verify, cold**', med('ours-cold', 'totalMs'), med('openpgp', 'totalMs'), med('openpgp-parallel', 'totalMs'), n],
    ['verify, warm (every answer from the cache)', med('ours-warm', 'verifyMs'), med('openpgp', 'verifyMs'), med('openpgp-parallel', 'verifyMs'), n],
    ['**parse + collect + verify, warm**', med('ours-warm', 'totalMs'), med('openpgp', 'totalMs'), med('openpgp-parallel', 'totalMs'), n],
  ];
  const cell = (ms: number, count: number | undefined) => (count ? `${fmtS(ms)} (${fmtRate(count, ms)})` : fmtS(ms));
  const lines: string[] = [];
  lines.push(`keyring: ${keyring}: ${n.toLocaleString('en-US')} in-ring certifications at ${REFERENCE_TIME.toISOString().slice(0, 10)}`);
  lines.push(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}; load average ${load0[0].toFixed(2)} before, ${load1[0].toFixed(2)} after`);
  lines.push(`${runs} runs from ${started.toISOString()}, median; each measurement in a fresh process`);
  lines.push('');
  lines.push(`| phase | ours | openpgp.js, one at a time | openpgp.js, ${OPENPGP_IN_FLIGHT} in flight | speed-up | speed-up vs ${OPENPGP_IN_FLIGHT} in flight |`);
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const [label, us, one, many, count] of rows) {
    lines.push(`| ${label} | ${cell(us, count)} | ${cell(one, count)} | ${cell(many, count)} | ${(one / us).toFixed(1)}× | ${(many / us).toFixed(1)}× |`);
  }
  lines.push('');
  lines.push('(warm rows compare with openpgp.js doing the same work again: it has no persistent cache)');
  const best = (phase: string) => Math.min(...of(phase).map((r) => r.totalMs));
  lines.push(
    `best run, parse + collect + verify: ours cold ${cell(best('ours-cold'), n)}, warm ${cell(best('ours-warm'), n)}; openpgp.js ${cell(best('openpgp'), n)}, ${OPENPGP_IN_FLIGHT} in flight ${cell(best('openpgp-parallel'), n)}`,
  );
  lines.push(
    `SQLite verification cache: ${n.toLocaleString('en-US')} lookups ${fmtMs(med('ours-warm', 'lookupMs'))} (warm, all hits), ${fmtMs(med('ours-cold', 'lookupMs'))} (cold, all misses); recording the outcomes ${fmtMs(med('ours-cold', 'recordMs'))} (one transaction)`,
  );
  lines.push(`collect in-ring certifications: ours ${fmtS(med('ours-cold', 'collectMs'))}, openpgp.js ${fmtS(med('openpgp', 'collectMs'))}`);
  lines.push(
    `CPU time, all threads, whole measured part: ours cold ${fmtS(med('ours-cold', 'cpuMs'))}, warm ${fmtS(med('ours-warm', 'cpuMs'))}; openpgp.js one at a time ${fmtS(med('openpgp', 'cpuMs'))}, ${OPENPGP_IN_FLIGHT} in flight ${fmtS(med('openpgp-parallel', 'cpuMs'))}`,
  );
  lines.push(
    `results: ours ${cold[0].good.toLocaleString('en-US')} good, ${cold[0].bad} bad of ${n.toLocaleString('en-US')}; openpgp.js ${seq[0].good.toLocaleString('en-US')} good, ${seq[0].bad} bad of ${seq[0].checks.toLocaleString('en-US')}: ${equal ? 'equal' : 'DIFFERENT'}`,
  );
  lines.push('per run, parse + collect + verify:');
  cold.forEach((r, i) => {
    lines.push(`  ${i + 1}: cold ${fmtS(r.totalMs)}, warm ${fmtS(warm[i].totalMs)}, openpgp.js ${fmtS(seq[i].totalMs)} / ${fmtS(par[i].totalMs)}`);
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  if (typeof values.json === 'string') writeFileSync(values.json, `${JSON.stringify({ started, runs, load: [load0, load1], results: all }, null, 2)}\n`);
  if (!equal) process.exitCode = 1;
}

await main();
