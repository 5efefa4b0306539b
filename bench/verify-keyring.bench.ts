/**
 * Benchmark: parse Debian's keyring and verify every in-ring certification at the reference time
 * 2023-01-15, cold (empty SQLite verification cache in a temp dir) and warm (the same cache, new
 * process), against openpgp.js 6.3.2's own path (readKeys, then SignaturePacket.verify for each
 * in-ring certification, SHA-1 allowed). Each measurement runs in a fresh child process; the table
 * gives the median of the runs.
 *
 *   node --import tsx bench/verify-keyring.bench.ts [--runs N] [--keyring PATH] [--json FILE]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const DEFAULT_KEYRING = '/usr/share/keyrings/debian-keyring.gpg';
const REFERENCE_TIME = new Date('2023-01-15T00:00:00Z');

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
    import('../src/store/sqlite.js'),
  ]);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { certs } = readCerts(readFileSync(keyring));
  const ring = new Keyring(certs);
  const t1 = performance.now();
  const checks = certificationChecks(ring, REFERENCE_TIME);
  const t2 = performance.now();
  const database = SqliteDatabase.open(db);
  const verifier = new Verifier({ cache: new SqliteVerificationCache(database) });
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
  };
}

async function openpgpjs(keyring: string): Promise<PhaseResult> {
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
  for (const { sig, issuer, key, user } of checks) {
    try {
      // date null (the d.ts omits it): cryptographic validity only, as our Verifier (time is policy, decided elsewhere).
      const noDate = null as unknown as Date;
      await sig.verify(issuer.keyPacket, sig.signatureType!, { userID: user.userID, userAttribute: user.userAttribute, key: key.keyPacket }, noDate, false, config);
      good++;
    } catch {
      // A bad signature.
    }
  }
  const t3 = performance.now();
  return {
    phase: 'openpgp',
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
const fmtRate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')}/s`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      phase: { type: 'string' },
      db: { type: 'string' },
      keyring: { type: 'string', default: DEFAULT_KEYRING },
      runs: { type: 'string', default: '3' },
      json: { type: 'string' },
    },
  });
  const keyring = values.keyring!;
  if (values.phase) {
    const result = values.phase === 'openpgp' ? await openpgpjs(keyring) : await ours(values.phase as 'ours-cold' | 'ours-warm', keyring, values.db!);
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
  const base = of('openpgp');
  const n = cold[0].checks;

  const consistent = [...cold, ...warm].every((r) => r.checks === n && r.good === cold[0].good) && base.every((r) => r.good === base[0].good);
  if (!consistent) throw new Error('results differ between runs');
  if (warm.some((r) => r.verified !== 0)) throw new Error('the warm run verified signatures: the cache did not answer');

  const rows: Array<[string, number, number | undefined, number | undefined, number]> = [
    // phase, our wall, openpgp.js wall (same work), certifications counted for the rate, cpu
    ['parse (ours: readCerts + Keyring; openpgp.js: readKeys)', med('ours-cold', 'parseMs'), med('openpgp', 'parseMs'), undefined, NaN],
    ['verify, cold (empty SQLite cache)', med('ours-cold', 'verifyMs'), med('openpgp', 'verifyMs'), n, NaN],
    ['parse + collect + verify, cold', med('ours-cold', 'totalMs'), med('openpgp', 'totalMs'), n, med('ours-cold', 'cpuMs')],
    ['verify, warm (cache hits)', med('ours-warm', 'verifyMs'), undefined, n, NaN],
    ['parse + collect + verify, warm', med('ours-warm', 'totalMs'), med('openpgp', 'totalMs'), n, med('ours-warm', 'cpuMs')],
  ];
  const lines: string[] = [];
  lines.push(`keyring: ${keyring} (${base[0].checks === n ? '' : 'openpgp.js counts differ! '}${n.toLocaleString('en-US')} in-ring certifications at ${REFERENCE_TIME.toISOString().slice(0, 10)})`);
  lines.push(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}, load average ${load0[0].toFixed(2)} → ${load1[0].toFixed(2)}`);
  lines.push(`runs: ${runs} (median), ${started.toISOString()}`);
  lines.push('');
  lines.push('| phase | ours | ours cert/s | openpgp.js | openpgp.js cert/s | speed-up |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const [label, us, them, count] of rows) {
    lines.push(
      `| ${label} | ${fmtS(us)} | ${count ? fmtRate(count, us) : ''} | ${them === undefined ? '' : fmtS(them)} | ${them !== undefined && count ? fmtRate(count, them) : ''} | ${them === undefined ? '' : `${(them / us).toFixed(1)}×`} |`,
    );
  }
  lines.push('');
  lines.push(`openpgp.js collect ${fmtS(med('openpgp', 'collectMs'))}; ours collect ${fmtS(med('ours-cold', 'collectMs'))}`);
  lines.push(
    `CPU time (all threads): ours cold ${fmtS(med('ours-cold', 'cpuMs'))}, ours warm ${fmtS(med('ours-warm', 'cpuMs'))}, openpgp.js ${fmtS(med('openpgp', 'cpuMs'))}`,
  );
  lines.push(
    `results: ours ${cold[0].good.toLocaleString('en-US')} good / ${cold[0].bad} bad; openpgp.js ${base[0].good.toLocaleString('en-US')} good / ${base[0].bad} bad of ${base[0].checks.toLocaleString('en-US')}: ${
      cold[0].good === base[0].good && cold[0].bad === base[0].bad ? 'equal' : 'DIFFERENT'
    }`,
  );
  lines.push(`per run (cold total / warm total / openpgp.js total): ${cold.map((r, i) => `${fmtS(r.totalMs)} / ${fmtS(warm[i].totalMs)} / ${fmtS(base[i].totalMs)}`).join('; ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ started, runs, load: [load0, load1], results: all }, null, 2)}\n`);
  if (cold[0].good !== base[0].good || cold[0].bad !== base[0].bad) process.exitCode = 1;
}

await main();
