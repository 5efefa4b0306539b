/**
 * `monkeysphere-keyserver serve --workers N` as a process: N workers on one address and one
 * SQLite store, any of them answering; upload rate limits shared, /metrics adding up every
 * worker's counters; a worker that dies replaced; SIGTERM stopping them all (exit 0); a port in
 * use ending the command with exit 4.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { armor } from '../../src/openpgp/armor.js';
import { writeCert } from '../../src/openpgp/cert.js';
import { makeKey } from '../keyserver/keys.js';
import { NOW } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'ms-ks-workers-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ROOT = new URL('../../', import.meta.url).pathname;
const ENV = { MONKEYSPHERE_TEST_NOW: String(NOW), MONKEYSPHERE_LOG_LEVEL: 'verbose' };

async function serve(args: string[]): Promise<{ child: ChildProcess; base: string; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/hkp/run-keyserver.ts'), 'serve', ...args], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const base = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving HKP on (http:\/\/[^/]+)\/ with \d+ workers/.exec(err);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, base, stderr: () => err };
}

const exited = (child: ChildProcess): Promise<number | null> => new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

/** The worker processes of `pid`: its children running node (tsx also starts an esbuild child). */
function workersOf(pid: number): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid), '-x', 'node'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map(Number);
}

/** GET on a fresh connection each time (`Connection: close`), so the kernel hands requests to any worker. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An upload on a fresh connection of its own (node:http, no pool): status, Retry-After and body. */
function post(base: string, bytes: Buffer): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const body = `keytext=${encodeURIComponent(armor('PUBLIC KEY BLOCK', bytes))}`;
    const req = request(`${base}/pks/add?options=mr`, { method: 'POST', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const upload = (base: string, bytes: Buffer) =>
  fetch(`${base}/pks/add`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
    body: `keytext=${encodeURIComponent(armor('PUBLIC KEY BLOCK', bytes))}`,
  });

describe('serve --workers', () => {
  test('two workers answer on one address; uploads share one rate budget; /metrics counts every worker; SIGTERM stops all', async () => {
    const { child, base, stderr } = await serve(['--listen', '127.0.0.1:0', '--store', `sqlite:${join(dir, 'w.sqlite')}`, '--workers', '2', '--upload-burst', '2', '--upload-every', '3600']);
    try {
      const workers = workersOf(child.pid!);
      assert.equal(workers.length, 2, 'two worker processes');
      // Uploads on separate connections: two allowed in all, whichever worker takes them.
      const keys = [0, 1, 2].map((i) => makeKey([`ssh://w${i}.example.org`]));
      const statuses: number[] = [];
      for (const k of keys) statuses.push((await upload(base, writeCert(k.cert))).status);
      assert.deepEqual(statuses, [200, 200, 429]);
      // Lookups on fresh connections: any worker answers, all from the one store.
      const n = 40;
      for (let i = 0; i < n; i++) {
        const k = keys[i % 2];
        const r = await get(`${base}/pks/lookup?op=index&options=mr&search=ssh://w${i % 2}.example.org`);
        assert.equal(r.status, 200);
        assert.match(r.body, new RegExp(`^pub:${k.primary.fpr}:`, 'm'));
      }
      const metrics = (await get(`${base}/metrics`)).body;
      assert.match(metrics, new RegExp(`^keyserver_http_requests_total\\{route="/pks/lookup",status="200"\\} ${n}$`, 'm'), 'lookups of both workers added up');
      assert.match(metrics, /^keyserver_http_requests_total\{route="\/pks\/add",status="200"\} 2$/m);
      assert.match(metrics, /^keyserver_http_requests_total\{route="\/pks\/add",status="429"\} 1$/m);
      assert.match(metrics, /^keyserver_uploaded_certificates_total\{status="inserted"\} 2$/m);
      child.kill('SIGTERM');
      assert.equal(await exited(child), 0);
      for (const pid of workers) assert.equal(spawnSync('kill', ['-0', String(pid)]).status, 1, `worker ${pid} is gone`);
      assert.match(stderr(), /^ms: stopped$/m);
      assert.equal(stderr().match(/^ms: worker \d+ stopped$/gm)?.length, 2);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('a worker that dies is replaced, and the others answer meanwhile', async () => {
    const { child, base, stderr } = await serve(['--listen', '127.0.0.1:0', '--store', `sqlite:${join(dir, 'w2.sqlite')}`, '--workers', '2']);
    try {
      const [first, second] = workersOf(child.pid!);
      process.kill(first, 'SIGKILL');
      // Gone (a connection it had accepted in its last instant would be reset, as by any crash).
      while (spawnSync('kill', ['-0', String(first)]).status === 0) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 10; i++) assert.equal((await get(`${base}/pks/health`)).status, 200);
      const deadline = Date.now() + 20_000;
      while (!(workersOf(child.pid!).length === 2 && /worker \d+ serving/.test(stderr().split(`worker ${first} ended`)[1] ?? ''))) {
        assert.ok(Date.now() < deadline, `no replacement: ${stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(stderr(), new RegExp(`^ms: worker ${first} ended \\(signal SIGKILL\\); starting another$`, 'm'));
      const now = workersOf(child.pid!);
      assert.ok(now.includes(second) && !now.includes(first));
      assert.equal((await get(`${base}/pks/health`)).status, 200);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });

  test("the keyserver's own upload windows are the primary's: they outlive the workers that counted them", async () => {
    // The HTTP bucket off: the Keyserver's per-client window (60 a minute) is the limit here.
    const { child, base, stderr } = await serve(['--listen', '127.0.0.1:0', '--store', `sqlite:${join(dir, 'w5.sqlite')}`, '--workers', '2', '--upload-burst', '0']);
    try {
      const key = writeCert(makeKey(['ssh://windows.example.org']).cert);
      const statuses = new Map<number, number>();
      for (let i = 0; i < 60; i++) {
        const s = (await post(base, key)).status;
        statuses.set(s, (statuses.get(s) ?? 0) + 1);
      }
      assert.deepEqual([...statuses], [[200, 60]]);
      // Both workers replaced, one after the other (one keeps the socket open meanwhile): new
      // processes, and still the 61st upload within the minute is refused.
      const before = workersOf(child.pid!);
      for (const [i, pid] of before.entries()) {
        process.kill(pid, 'SIGKILL');
        const deadline = Date.now() + 30_000;
        while (!(workersOf(child.pid!).filter((p) => !before.includes(p)).length === i + 1 && (stderr().match(/worker \d+ serving/g)?.length ?? 0) >= 3 + i)) {
          assert.ok(Date.now() < deadline, `no replacement: ${stderr()}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const refused = await post(base, key);
      assert.equal(refused.status, 429, refused.body);
      assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'MS_KS_RATE_LIMITED');
      assert.ok(Number(refused.retryAfter) > 0);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });

  test('a port in use: exit 4, said once, no worker left behind', async () => {
    const first = await serve(['--listen', '127.0.0.1:0', '--store', `sqlite:${join(dir, 'w3.sqlite')}`, '--workers', '2']);
    try {
      const address = first.base.replace('http://', '');
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/hkp/run-keyserver.ts'), 'serve', '--listen', address, '--store', `sqlite:${join(dir, 'w4.sqlite')}`, '--workers', '2'], {
        env: { ...process.env, ...ENV },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, 4, r.stderr);
      assert.match(r.stderr, /cannot listen on .*EADDRINUSE/);
      assert.match(r.stderr, /hint: another process uses this port/);
    } finally {
      first.child.kill('SIGTERM');
      await exited(first.child);
    }
  });
});
