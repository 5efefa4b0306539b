/**
 * The validation agent's `/reviewcert` against Debian's msva-perl 0.9.2 on the same GnuPG
 * home, side by side in one run: latency (p50, p95 over --calls sequential requests after
 * warm-up, interleaved ours, msva-perl, ours, …) for a certificate that validates and for one
 * that does not (no certification), then throughput (requests per second with --concurrency
 * requests in flight, --requests in all), and the ratio of each. Also our first request
 * after the keyring changed (the user ID index is recomputed), once.
 *
 * The home is Bob's of the tests (test/msva/world.ts): a TLS site whose RSA key was published
 * with `monkeysphere-host import-key --certificate` and certified by Alice (full ownertrust),
 * another site not certified, and --certs filler certificates (Ed25519, each certified by
 * Bob) imported with one `gpg --import`. Requests are HTTP POSTs of msva's JSON (x509der), as
 * a browser extension sends them; the client is this process (node's fetch). Both agents run
 * with MSVA_KEYSERVER_POLICY=never and without NODE_EXTRA_CA_CERTS. Fails if the agents
 * disagree on either certificate.
 *
 * Usage: node --import tsx bench/msva.bench.ts [--certs 1000] [--calls 50] [--requests 400] [--concurrency 8]
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { writeCert } from '../src/openpgp/cert.js';
import { ensureBuilt } from '../test/auth/harness.js';
import { Person } from '../test/auth/pki.js';
import { MsvaWorld, type RunningAgent, startOriginalAgent, startOurAgent } from '../test/msva/world.js';

const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const CERTS = Number(argOf('certs') ?? 1000);
const CALLS = Number(argOf('calls') ?? 50);
const REQUESTS = Number(argOf('requests') ?? 400);
const CONCURRENCY = Number(argOf('concurrency') ?? 8);
const WARMUP = 3;
for (const n of [CERTS, CALLS, REQUESTS, CONCURRENCY]) if (!Number.isInteger(n) || n < 1) throw new Error('usage: msva.bench.ts [--certs N] [--calls N] [--requests N] [--concurrency N]');

async function ask(url: string, body: string): Promise<{ valid: boolean; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/reviewcert`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  const json = (await res.json()) as { valid: boolean };
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return { valid: json.valid, ms };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

async function main(): Promise<void> {
  ensureBuilt();
  delete process.env.NODE_EXTRA_CA_CERTS;
  const world = new MsvaWorld();
  let ours: RunningAgent | undefined;
  let orig: RunningAgent | undefined;
  try {
    world.ownertrust(world.alice, 5);
    const t0 = performance.now();
    const fillers: Buffer[] = [];
    for (let i = 0; i < CERTS; i++) {
      const p = new Person([`Filler ${i} <filler${i}@example.org>`]);
      p.certifiedBy(world.bob);
      fillers.push(writeCert(p.cert));
    }
    world.gpg.ok(['--import'], Buffer.concat(fillers));
    const valid = await world.site('rsa', 'https://www.example.org');
    const invalid = await world.site('rsa', 'https://plain.example.org', []);
    world.gpg.ok(['--check-trustdb']);
    console.log(`home: ${CERTS + 4} certificates, made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const body = (peer: string, der: Buffer) => JSON.stringify({ context: 'https', peer: { name: peer, type: 'server' }, pkc: { type: 'x509der', data: [...der] } });
    const cases = [
      { name: 'valid (certified RSA site)', body: body('www.example.org', valid.tls.der), expect: true },
      { name: 'not valid (no certification)', body: body('plain.example.org', invalid.tls.der), expect: false },
    ];

    ours = await startOurAgent(world.agentEnv());
    orig = await startOriginalAgent(world.agentEnv());
    const agents = [
      { name: 'ours', url: ours.url },
      { name: 'msva-perl 0.9.2', url: orig.url },
    ];

    // Our first request reads and evaluates the keyring (then keeps the index in the user's cache).
    const first = await ask(ours.url, cases[0].body);
    console.log(`ours, first request (keyring evaluated, index kept): ${fmt(first.ms)} ms`);

    console.log(`\nlatency over ${CALLS} sequential requests (after ${WARMUP} warm-up), interleaved; ms`);
    console.log('| request | agent | p50 | p95 |');
    console.log('|---|---|---|---|');
    const ratios: string[] = [];
    for (const c of cases) {
      const times: number[][] = agents.map(() => []);
      for (let i = 0; i < WARMUP + CALLS; i++) {
        for (const [k, a] of agents.entries()) {
          const r = await ask(a.url, c.body);
          if (r.valid !== c.expect) throw new Error(`${a.name} says ${r.valid} for ${c.name}`);
          if (i >= WARMUP) times[k].push(r.ms);
        }
      }
      for (const [k, a] of agents.entries()) console.log(`| ${c.name} | ${a.name} | ${fmt(pct(times[k], 50))} | ${fmt(pct(times[k], 95))} |`);
      ratios.push(`${c.name}: msva-perl/ours p50 = ${(pct(times[1], 50) / pct(times[0], 50)).toFixed(1)}×`);
    }

    console.log(`\nthroughput: ${REQUESTS} requests (valid case), ${CONCURRENCY} in flight`);
    console.log('| agent | requests/s | wall s |');
    console.log('|---|---|---|');
    const rates: number[] = [];
    for (const a of agents) {
      let next = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS) {
            next++;
            const r = await ask(a.url, cases[0].body);
            if (!r.valid) throw new Error(`${a.name} refused under load`);
          }
        }),
      );
      const s = (performance.now() - t) / 1000;
      rates.push(REQUESTS / s);
      console.log(`| ${a.name} | ${(REQUESTS / s).toFixed(1)} | ${s.toFixed(1)} |`);
    }
    ratios.push(`throughput: ours/msva-perl = ${(rates[0] / rates[1]).toFixed(1)}×`);
    console.log(`\nratios: ${ratios.join('; ')}`);
    console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${availableParallelism()}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);
  } finally {
    await ours?.stop();
    await orig?.stop();
    world.cleanup();
  }
}

await main();
