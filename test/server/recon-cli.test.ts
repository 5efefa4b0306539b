/**
 * The built command as an operator runs it: `monkeysphere-keyserver serve` and a separate
 * `monkeysphere-keyserver recon` process on the same SQLite store (as `sks recon` beside
 * `sks db`), gossiping every second with two of our keyservers in this process, one on SQLite
 * and one on PostgreSQL (issue 14's three servers). All three end up with the union, served
 * over HKP; the serve process shows the recon process's peers on `/metrics`; both processes
 * stop on SIGTERM with status 0. A bad setup fails before serve announces itself: a membership
 * file that is a FIFO (exit 4) or has a bad line (exit 3), a recon port in use (exit 4, with a
 * hint); ptree-rebuild refuses a store that does not exist. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { armor } from '../../src/openpgp/armor.js';
import { FLOOD_NOW, throwawayKeys } from '../helpers/flood.js';
import { PostgresServer } from '../helpers/postgres.js';
import { OurServer } from '../helpers/recon-world.js';
import { freePort } from '../helpers/sks.js';

const BIN = fileURLToPath(new URL('../../bin/monkeysphere-keyserver.js', import.meta.url));
const BUILT = existsSync(fileURLToPath(new URL('../../dist/bundle/', import.meta.url)));
const ADDR = '127.0.0.51';
const keys = throwawayKeys('recon-cli', 0, 15);

class Proc {
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
  }
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.pid !== undefined) process.kill(this.child.pid, 'SIGTERM');
    return this.exited;
  }
}

async function eventually(what: string, cond: () => Promise<boolean> | boolean, detail: () => string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) assert.fail(`${what} within ${ms / 1000} s\n${detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('serve and a separate recon process on one store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-recon-cli-'));
  let ours: OurServer;
  let pg: PostgresServer;
  let onPostgres: OurServer;
  let serve: Proc;
  let recon: Proc;
  let httpPort = 0;
  let reconPort = 0;
  const env = { ...process.env, MONKEYSPHERE_TEST_NOW: String(FLOOD_NOW), MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' };
  const detail = () => `serve:\n${serve?.stderr}\nrecon:\n${recon?.stderr}\nours:\n${ours?.log.lines.join('\n')}\non PostgreSQL:\n${onPostgres?.log.lines.join('\n')}`;

  before(async () => {
    // scripts/test.sh builds before the tests; run alone, this file needs `npm run build` (a failure, not a skip).
    assert.ok(BUILT, 'dist/bundle/ is missing: run npm run build first');
    ours = await OurServer.start({ address: '127.0.0.52', now: FLOOD_NOW });
    pg = new PostgresServer();
    await pg.start();
    onPostgres = await OurServer.start({ address: '127.0.0.53', now: FLOOD_NOW, storeUrl: await pg.database() });
    httpPort = await freePort();
    reconPort = await freePort();
    const peers = join(dir, 'membership');
    writeFileSync(peers, `# our in-process keyservers\n${ours.id}\n${onPostgres.id}\n`);
    ours.setPeers([{ id: `${ADDR} ${reconPort}` }]);
    onPostgres.setPeers([{ id: `${ADDR} ${reconPort}` }]);
    const store = `sqlite:${join(dir, 'keys.sqlite')}`;
    serve = new Proc(spawn(process.execPath, [BIN, '--store', store, 'serve', '--listen', `${ADDR}:${httpPort}`], { env, stdio: ['ignore', 'ignore', 'pipe'] }));
    await eventually('serve answers', async () => (await fetch(`http://${ADDR}:${httpPort}/pks/health`).catch(() => undefined))?.status === 200, detail);
    const up = await fetch(`http://${ADDR}:${httpPort}/pks/add`, { method: 'POST', body: new URLSearchParams({ keytext: armor('PUBLIC KEY BLOCK', Buffer.concat(keys.slice(0, 5).map((k) => k.bytes))) }) });
    assert.equal(up.status, 200);
    await ours.upload(Buffer.concat(keys.slice(5, 10).map((k) => k.bytes)));
    await onPostgres.upload(Buffer.concat(keys.slice(10).map((k) => k.bytes)));
    recon = new Proc(
      spawn(process.execPath, [BIN, '--store', store, 'recon', '--recon', `${ADDR}:${reconPort}`, '--peers', peers, '--http-port', String(httpPort), '--gossip-interval', '1'], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
  });

  after(async () => {
    await recon?.stop();
    await serve?.stop();
    await ours?.stop();
    await onPostgres?.stop();
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('all three hold the union, through HKP', async () => {
    for (const k of keys) {
      await eventually(`serve has ${k.fpr}`, async () => (await fetch(`http://${ADDR}:${httpPort}/pks/lookup?op=get&options=mr&search=0x${k.fpr}`)).status === 200, detail);
      for (const s of [ours, onPostgres]) {
        await eventually(`${s.id} has ${k.fpr}`, async () => (await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${k.fpr}`)).status === 200, detail);
      }
    }
  });

  test("serve's /metrics shows the recon process's peer", async () => {
    await eventually(
      'a recon sync recorded',
      async () => new RegExp(`keyserver_recon_last_sync_seconds\\{instance="${ADDR}:${reconPort}",peer="${ours.id}"\\} ${FLOOD_NOW}`).test(await (await fetch(`http://${ADDR}:${httpPort}/metrics`)).text()),
      detail,
    );
  });

  test('both stop on SIGTERM with status 0', async () => {
    assert.equal(await recon.stop(), 0, detail());
    assert.equal(await serve.stop(), 0, detail());
  });
});

describe('a bad recon setup fails before serve announces itself', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-recon-cli-bad-'));
  const env = { ...process.env, MONKEYSPHERE_TEST_NOW: String(FLOOD_NOW), MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' };
  const store = `sqlite:${join(dir, 'keys.sqlite')}`;
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the command to its end (a hang is a failure: the timeout kills it). */
  function run(args: string[]): { status: number | null; stderr: string } {
    const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stderr: r.stderr };
  }

  async function serveWith(peers: string, reconPort?: number): Promise<{ status: number | null; stderr: string }> {
    const httpPort = await freePort();
    return run(['--store', store, 'serve', '--listen', `${ADDR}:${httpPort}`, '--recon', `${ADDR}:${reconPort ?? (await freePort())}`, '--peers', peers]);
  }

  before(() => assert.ok(BUILT, 'dist/bundle/ is missing: run npm run build first'));

  test('a membership file that is a FIFO: exit 4, naming the problem, without hanging', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const r = await serveWith(fifo);
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stderr, /it is a FIFO, not a regular file/);
    assert.doesNotMatch(r.stderr, /serving HKP/);
  });

  test('a bad line in the membership file: exit 3', async () => {
    const bad = join(dir, 'bad');
    writeFileSync(bad, '127.0.0.2 11370\nlonely\n');
    const r = await serveWith(bad);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /line 2: no port/);
    assert.doesNotMatch(r.stderr, /serving HKP/);
  });

  test('the recon port in use: exit 4 with a hint', async () => {
    const good = join(dir, 'good');
    writeFileSync(good, '127.0.0.2 11370\n');
    const taken = createServer();
    const port = await freePort();
    await new Promise<void>((r) => taken.listen(port, ADDR, r));
    try {
      const r = await serveWith(good, port);
      assert.equal(r.status, 4, r.stderr);
      assert.match(r.stderr, /cannot listen for recon on .*EADDRINUSE/);
      assert.match(r.stderr, /another process uses this port/);
      assert.doesNotMatch(r.stderr, /serving HKP/);
    } finally {
      taken.close();
    }
  });

  test('ptree-rebuild refuses a store that does not exist, and says when it is needed', () => {
    const missing = join(dir, 'nowhere.sqlite');
    const r = run(['--store', `sqlite:${missing}`, 'ptree-rebuild']);
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stderr, /no store at .*nowhere\.sqlite/);
    assert.equal(existsSync(missing), false, 'no empty store created');
    const help = spawnSync(process.execPath, [BIN, 'ptree-rebuild', '--help'], { env, encoding: 'utf8' });
    assert.match(help.stdout, /build the tree on their first start/);
    assert.match(help.stdout, /safe while recon runs/);
  });
});
