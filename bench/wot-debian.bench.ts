/**
 * Web of trust on the Debian keyring (905 keys, 42 k certifications) at 2023-01-15, side
 * by side: monkeysphere-wot (the compiled command, as a process) cold (no cache), warm
 * (the same command again), with other trust options (the evaluated snapshot read), and
 * with only the verification cache (snapshots dropped); gpg --check-trustdb in a prepared GnuPG home (import outside the timing),
 * and sq-wot list (under faketime). Two cases, as in the anchors doc §3: a root R that
 * tsigns Steve McIntyre's key (CEBB5230…684E) at level 1, amount 120; and the same
 * with full ownertrust on every key. Prints medians, ratios, and whether our valid
 * bindings equal gpg's. WOT_BENCH_RUNS=N sets the runs per measurement (default 3).
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Keyring } from '../src/keyring/keyring.js';
import { keyPacketFor, signV4, sp, userIdPacket } from '../src/openpgp/build.js';
import { readCerts, writeCert } from '../src/openpgp/cert.js';
import { mergeCerts } from '../src/openpgp/merge.js';
import { MemoryVerificationCache } from '../src/verify/cache.js';
import { Verifier } from '../src/verify/verifier.js';
import { computeKeyringTrust } from '../src/wot/build.js';
import { GpgHome } from '../test/helpers/gpg.js';

const DEBIAN = '/usr/share/keyrings/debian-keyring.gpg';
const NOW = 1673740800; // 2023-01-15T00:00:00Z
const RUNS = Number(process.env.WOT_BENCH_RUNS ?? 3);
const ROOT = new URL('..', import.meta.url).pathname;
const WORK = join(ROOT, 'bench', '.work', 'wot-debian');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const range = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { ms: number; stdout: string; stderr: string; status: number } {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env, maxBuffer: 256 * 1024 * 1024 });
  const ms = performance.now() - t;
  if (r.error) throw r.error;
  return { ms, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), status: r.status ?? -1 };
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

// ---- Inputs -----------------------------------------------------------------------------

mkdirSync(WORK, { recursive: true });
process.stdout.write(`wot-debian: preparing inputs in ${WORK}\n`);
const debianBytes = readFileSync(DEBIAN);
const ring = new Keyring(readCerts(debianBytes).certs);
const x = [...ring].find((c) => c.primary.fpr.startsWith('CEBB5230') && c.primary.fpr.endsWith('684E'));
if (!x) throw new Error('McIntyre (CEBB5230…684E) is not in the Debian keyring');

// R: an Ed25519 root made "on 2023-01-01" from a fixed seed, so every run uses the same key.
const rPriv = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), createHash('sha256').update('wot-debian bench root').digest()]),
  format: 'der',
  type: 'pkcs8',
});
const rCreated = 1672531200;
const rKey = keyPacketFor(rPriv, rCreated);
const rUid = userIdPacket('WoT benchmark root <root@bench.invalid>');
const rSelf = signV4({ kind: 'user', primary: rKey, user: rUid }, { type: 0x13, signer: rKey, privateKey: rPriv, hashed: [sp.created(rCreated), sp.keyFlags(0x03), sp.issuerFingerprint(rKey)] });
const rootBytes = Buffer.concat([rKey.packet.raw, rUid.raw, rSelf.packet.raw]);
// R tsigns every user ID of X at level 1, amount 120, no scope (gpg tsign: 2, 1, no domain).
const tsigned = readCerts(writeCert(x)).certs[0];
for (const u of tsigned.users) {
  if (u.kind !== 'userid') continue;
  const sig = signV4({ kind: 'user', primary: tsigned.primary, user: u.packet }, { type: 0x10, signer: rKey, privateKey: rPriv, hashed: [sp.created(rCreated + 86400), sp.trust(1, 120), sp.issuerFingerprint(rKey)] });
  u.signatures.push({ packet: sig.packet, sig });
}
const xSigned = mergeCerts(x, tsigned);
const xBytes = writeCert(xSigned);
const files = { debian: DEBIAN, root: join(WORK, 'root.pgp'), x: join(WORK, 'x-tsigned.pgp'), merged: join(WORK, 'merged.pgp'), ot1: join(WORK, 'ownertrust-root.txt'), ot2: join(WORK, 'ownertrust-allfull.txt') };
writeFileSync(files.root, rootBytes);
writeFileSync(files.x, xBytes);
writeFileSync(files.ot1, `${rKey.fpr}:6:\n`);
writeFileSync(files.ot2, `${rKey.fpr}:6:\n${[...ring].map((c) => `${c.primary.fpr}:5:\n`).join('')}`);
let mergeNote: string;
if (has('sq')) {
  rmSync(files.merged, { force: true });
  const r = spawnSync('sq', ['keyring', 'merge', '--binary', '-o', files.merged, files.debian, files.root, files.x]);
  if (r.status !== 0) throw new Error(`sq keyring merge failed: ${r.stderr}`);
  mergeNote = 'sq keyring merge';
} else {
  // sq-wot keeps the first copy of a certificate and does not merge: put the tsigned X first.
  writeFileSync(files.merged, Buffer.concat([rootBytes, xBytes, debianBytes]));
  mergeNote = 'sq not installed: concatenated R, the tsigned X, then the ring (sq-wot keeps the first copy of X)';
}

// ---- gpg: import once, outside the timing --------------------------------------------------

const gpg = new GpgHome(NOW);
const t = performance.now();
gpg.ok(['--import'], debianBytes);
gpg.ok(['--import'], Buffer.concat([rootBytes, xBytes]));
const importMs = performance.now() - t;
process.stdout.write(`wot-debian: gpg import ${fmt(importMs)} (not timed below)\n`);

function gpgValid(): Set<string> {
  const out = new Set<string>();
  let fpr = '';
  let want = false;
  for (const f of gpg.colons(['--list-keys'])) {
    if (f[0] === 'pub') want = true;
    else if (f[0] === 'fpr' && want) {
      fpr = f[9];
      want = false;
    } else if (f[0] === 'sub') want = false;
    else if (f[0] === 'uid' && (f[1] === 'u' || f[1] === 'f')) out.add(`${fpr}\t${f[9].replace(/\\x3a/g, ':')}`);
  }
  return out;
}

// ---- Our command, as a process --------------------------------------------------------------

// The compiled command, as users run it (scripts/setup.sh builds dist/; run `npm run build` after editing src/).
const command = join(ROOT, 'bin', 'monkeysphere-wot.js');
if (!existsSync(join(ROOT, 'dist', 'cli', 'monkeysphere-wot.js'))) throw new Error('dist/ is not built: run npm run build (or scripts/setup.sh) first');
const cacheFile = join(WORK, 'verify-cache.sqlite');
const ours = (ownertrust: string, extra: string[] = []) =>
  timed(process.execPath, [command, '--keyring', files.debian, '--keyring', files.root, '--keyring', files.x, '--ownertrust', ownertrust, '--at', '2023-01-15', '--cache', cacheFile, '--json', ...extra, 'list'], {
    ...process.env,
    MONKEYSPHERE_LOG_LEVEL: 'VERBOSE',
  });
/** Forgets the stored results and snapshots, keeping the verified signatures. */
function dropSnapshots(): void {
  const db = new Database(cacheFile);
  db.exec('DELETE FROM snapshots');
  db.close();
}
const startup = timed(process.execPath, ['-e', '0']).ms;

interface Row {
  what: string;
  times: number[];
  result: string;
}

function validOf(json: string, field: 'validity' | 'gnupgValidity'): Set<string> {
  const rows = JSON.parse(json) as Array<{ fingerprint: string; userId: string; validity: string; gnupgValidity: string }>;
  return new Set(rows.filter((r) => r[field] === 'u' || r[field] === 'f').map((r) => `${r.fingerprint}\t${r.userId}`));
}

const keysOf = (s: Set<string>) => new Set([...s].map((b) => b.split('\t')[0])).size;
const diff = (a: Set<string>, b: Set<string>) => [...a].filter((v) => !b.has(v));

function runCase(label: string, ownertrust: string, sqArgs: string[], sqEnv: NodeJS.ProcessEnv): string[] {
  process.stdout.write(`wot-debian: case ${label}\n`);
  gpg.ok(['--import-ownertrust'], readFileSync(ownertrust));
  const rows: Row[] = [];

  const gpgTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) gpgTimes.push(timed('gpg', ['--homedir', gpg.dir, '--batch', '--yes', '--faked-system-time', `${NOW}!`, '--check-trustdb']).ms);
  const theirs = gpgValid();
  rows.push({ what: 'gpg --check-trustdb', times: gpgTimes, result: `${keysOf(theirs)} keys / ${theirs.size} bindings` });

  const cold: number[] = [];
  const warm: number[] = [];
  const snapshot: number[] = [];
  const verifiedOnly: number[] = [];
  let out = '';
  const stats: string[] = [];
  const note = (what: string, r: { stderr: string }) => stats.push(`${what}: ${/(\d+ certificates|inputs and trust options).*/.exec(r.stderr)?.[0] ?? '?'}`);
  const check = <R extends { status: number; stderr: string }>(r: R): R => {
    if (r.status !== 0) throw new Error(`monkeysphere-wot failed: ${r.stderr}`);
    return r;
  };
  for (let i = 0; i < RUNS; i++) {
    rmSync(cacheFile, { force: true });
    const r = check(ours(ownertrust));
    cold.push(r.ms);
    if (i === 0) note('cold', r);
  }
  for (let i = 0; i < RUNS; i++) {
    const r = check(ours(ownertrust));
    warm.push(r.ms);
    out = r.stdout;
    if (i === 0) note('warm', r);
  }
  for (let i = 0; i < RUNS; i++) {
    // Other trust options (GnuPG's rules alone): the evaluated snapshot is read, the trust computed.
    const r = check(ours(ownertrust, ['--model', 'gnupg', `--max-cert-depth=${5 + i}`]));
    snapshot.push(r.ms);
    if (i === 0) note('snapshot', r);
  }
  for (let i = 0; i < RUNS; i++) {
    dropSnapshots();
    const r = check(ours(ownertrust));
    verifiedOnly.push(r.ms);
    if (i === 0) note('verification cache only', r);
  }
  const mine = validOf(out, 'validity');
  const mineGnupg = validOf(out, 'gnupgValidity');
  rows.push({ what: 'monkeysphere-wot list, cold (no cache)', times: cold, result: `${keysOf(mine)} keys / ${mine.size} bindings` });
  rows.push({ what: 'monkeysphere-wot list, warm (the same command again)', times: warm, result: 'same' });
  rows.push({ what: 'monkeysphere-wot list, other trust options (evaluated snapshot read, trust computed)', times: snapshot, result: '' });
  rows.push({ what: 'monkeysphere-wot list, verification cache only (parse and evaluate again)', times: verifiedOnly, result: 'same' });

  const sqTimes: number[] = [];
  let sqValid = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = timed('faketime', ['2023-01-15 00:00:00', 'sq-wot', '-k', files.merged, ...sqArgs, 'list'], sqEnv);
    sqTimes.push(r.ms);
    sqValid = r.stdout.split('\n').filter((l) => l.startsWith('[✓]')).length;
  }
  rows.push({ what: 'sq-wot list (faketime)', times: sqTimes, result: `${sqValid} bindings` });

  const lines = [`### ${label}`, '', `| what | median | range (n=${RUNS}) | valid |`, '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.what} | **${fmt(median(r.times))}** | ${range(r.times)} | ${r.result} |`);
  const g = median(gpgTimes);
  lines.push(
    '',
    `- Ratios: gpg --check-trustdb / ours warm = **${(g / median(warm)).toFixed(1)}×**; gpg / ours cold = ${(g / median(cold)).toFixed(1)}×; sq-wot / ours warm = ${(median(sqTimes) / median(warm)).toFixed(1)}×.`,
    `- Our valid bindings ${sameSet(mine, theirs) ? '**equal** gpg\'s' : `differ from gpg's: ${diff(mine, theirs).length} only ours, ${diff(theirs, mine).length} only gpg's`}; under GnuPG's rules alone (--model gnupg letters) they ${sameSet(mineGnupg, theirs) ? '**equal** gpg\'s' : `differ: ${diff(mineGnupg, theirs).length} only ours, ${diff(theirs, mineGnupg).length} only gpg's`}.`,
    ...stats.map((line) => `- ${line}`),
    `- Whole command as a process: the compiled bin/monkeysphere-wot.js (\`node -e 0\` takes ${fmt(startup)} here).`,
  );
  for (const b of diff(theirs, mine).slice(0, 5)) lines.push(`  - only gpg: ${b.replace('\t', ' ')}`);
  for (const b of diff(mine, theirs).slice(0, 5)) lines.push(`  - only ours: ${b.replace('\t', ' ')}`);
  return lines;
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((v) => b.has(v));
}

// ---- In process: compute once, then single-binding queries ------------------------------

async function inProcess(): Promise<string[]> {
  const p0 = performance.now();
  const keyring = new Keyring(readCerts(debianBytes).certs);
  const parseMs = performance.now() - p0;
  for (const c of readCerts(Buffer.concat([rootBytes, xBytes])).certs) keyring.add(c);
  const cache = new MemoryVerificationCache();
  const lines: string[] = [`- In process: reading the 28 MB keyring into certificates takes ${fmt(parseMs)} (src/openpgp).`];
  for (const round of ['cold', 'warm']) {
    const t0 = performance.now();
    const { network } = await computeKeyringTrust(keyring, { now: NOW, roots: [rKey.fpr] }, { verifier: new Verifier({ cache }) });
    const computeMs = performance.now() - t0;
    const bindings = network.bindings();
    const sample = bindings.filter((_, i) => i % 7 === 0);
    const q0 = performance.now();
    for (const b of sample) network.validity(b.fingerprint, b.userId);
    const lookupUs = ((performance.now() - q0) * 1000) / sample.length;
    const e0 = performance.now();
    for (const b of sample) network.explain(b.fingerprint, b.userId);
    const explainMs = (performance.now() - e0) / sample.length;
    lines.push(`- In process, ${round} verification cache (keyring already parsed): evaluate and compute with explanations (every certification of an introducer verified) ${fmt(computeMs)}; then a binding's letter in ${lookupUs.toFixed(1)} µs and a full explanation in ${explainMs.toFixed(2)} ms (mean over ${sample.length} bindings).`);
  }
  return lines;
}

try {
  const report = [
    `## Web of trust: Debian keyring (wot-debian.bench.ts)`,
    '',
    'HEADER',
    '',
    ...runCase('Case 1: R tsigns McIntyre', files.ot1, ['-r', rKey.fpr], process.env),
    '',
    ...runCase('Case 2: every key has full ownertrust', files.ot2, ['--gpg-ownertrust'], { ...process.env, GNUPGHOME: gpg.dir }),
    '',
    ...(await inProcess()),
  ];
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  report[2] = `${ring.size} keys of ${DEBIAN}, reference time 2023-01-15, ${RUNS} runs each; root R ${rKey.fpr} tsigns McIntyre ${x.primary.fpr} (level 1, amount 120). gpg import: ${fmt(importMs)}, outside the timings. sq-wot input: ${mergeNote}. Machine: ${spawnSync('nproc').stdout.toString().trim()} vCPUs, load average ${load} at the end.`;
  const text = `${report.join('\n')}\n`;
  writeFileSync(join(WORK, 'report.md'), text);
  process.stdout.write(`\n${text}`);
} finally {
  gpg.cleanup();
  if (existsSync(cacheFile)) rmSync(cacheFile, { force: true });
}
