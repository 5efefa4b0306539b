/**
 * monkeysphere-keyserver, the command: store URLs and listen addresses, serve as a process of
 * its own (stopped by SIGTERM, exit 0), takedowns (delete, block, unblock, blocklist), import
 * (progress only on a terminal, resume) and dump, help and exit codes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import type { Io } from '../../src/cli/io.js';
import { main, parseListen, storeLocation } from '../../src/cli/monkeysphere-keyserver.js';
import { armor } from '../../src/openpgp/armor.js';
import { readCerts, writeCert } from '../../src/openpgp/cert.js';
import { Keyserver } from '../../src/server/keyserver.js';
import { openStore } from '../../src/store/index.js';
import { ensureBuilt } from '../auth/harness.js';
import { runCli } from '../helpers/run-cli.js';
import { certify, makeKey } from '../keyserver/keys.js';
import { NOW } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'ms-ks-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ENV = { MONKEYSPHERE_TEST_NOW: String(NOW), MONKEYSPHERE_LOG_LEVEL: 'verbose' };
const ROOT = new URL('../../', import.meta.url).pathname;

/** Starts `serve` as a process; resolves with it and its base URL once it logs where it listens. */
async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; base: string; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/hkp/run-keyserver.ts'), 'serve', '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, ...ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const base = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving HKP on (http:\/\/[^/]+)\//.exec(err);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, base, stderr: () => err };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

describe('arguments', () => {
  test('store URLs: sqlite:PATH, plain paths, postgres://, the default', () => {
    assert.deepEqual(storeLocation('sqlite:/srv/k.sqlite', {}, '/x'), { location: '/srv/k.sqlite', isDefault: false });
    assert.deepEqual(storeLocation('sqlite:rel/k.sqlite', {}, '/x'), { location: '/x/rel/k.sqlite', isDefault: false });
    assert.deepEqual(storeLocation('sqlite:///srv/k.sqlite', {}, '/x'), { location: '/srv/k.sqlite', isDefault: false });
    assert.deepEqual(storeLocation('k.sqlite', {}, '/x'), { location: '/x/k.sqlite', isDefault: false });
    assert.equal(storeLocation('postgres://u@h/db', {}, '/x').location, 'postgres://u@h/db');
    assert.deepEqual(storeLocation(undefined, {}, '/x'), { location: '/var/lib/monkeysphere/keyserver.sqlite', isDefault: true });
    assert.equal(storeLocation(undefined, { MONKEYSPHERE_SYSDATADIR: '/d' }, '/x').location, '/d/keyserver.sqlite');
    assert.equal(storeLocation(undefined, { MONKEYSPHERE_KEYSERVER_STORE: 'sqlite:/e.sqlite' }, '/x').location, '/e.sqlite');
    assert.throws(() => storeLocation('mysql://h/db', {}, '/x'), { code: 'MS_HKP_STORE_URL' });
    assert.throws(() => storeLocation('sqlite:', {}, '/x'), { code: 'MS_HKP_STORE_URL' });
  });

  test('listen addresses', () => {
    assert.deepEqual(parseListen('127.0.0.1:11371'), { host: '127.0.0.1', port: 11371 });
    assert.deepEqual(parseListen('[::1]:80'), { host: '::1', port: 80 });
    assert.deepEqual(parseListen(':8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('8080'), { host: '127.0.0.1', port: 8080 });
    for (const bad of ['host', '1.2.3.4:99999', '::1:80', '']) assert.throws(() => parseListen(bad), { code: 'MS_HKP_USAGE' }, bad);
  });

  test('--help reads as a manual; usage errors exit 2', async () => {
    const h = await runCli(main, ['--help']);
    assert.equal(h.code, 0);
    for (const section of ['Store:', 'Serving:', 'Exit status:', 'Examples:', 'serve', 'import', 'dump', 'delete', 'blocklist']) assert.ok(h.text.includes(section), section);
    const s = await runCli(main, ['help', 'serve']);
    assert.match(s.text, /--listen <addr:port>/);
    assert.equal((await runCli(main, ['frobnicate'])).code, 2);
    assert.equal((await runCli(main, ['serve', '--listen', 'nowhere'], { env: ENV })).code, 2);
    assert.equal((await runCli(main, ['delete', 'ABC', '--store', join(dir, 'x.sqlite')], { env: ENV })).code, 2);
  });
});

describe('serve', () => {
  test('serves a SQLite store, answers gpg-style lookups, and stops cleanly on SIGTERM', async () => {
    const store = `sqlite:${join(dir, 'serve.sqlite')}`;
    const { child, base, stderr } = await serve(['--store', store]);
    try {
      assert.equal((await fetch(`${base}/pks/health`)).status, 200);
      const k = makeKey(['ssh://serve.example.org']);
      const up = await fetch(`${base}/pks/add`, { method: 'POST', body: `keytext=${encodeURIComponent(armor('PUBLIC KEY BLOCK', writeCert(k.cert)))}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(up.status, 200);
      const got = await fetch(`${base}/pks/lookup?op=index&options=mr&search=ssh://serve.example.org`);
      assert.match(await got.text(), new RegExp(`^pub:${k.primary.fpr}:`, 'm'));
      // No --wkd-domain: no Web Key Directory (anyone could upload a key for any address).
      const mail = makeKey(['Someone <someone@example.org>']);
      await fetch(`${base}/pks/add`, { method: 'POST', body: `keytext=${encodeURIComponent(armor('PUBLIC KEY BLOCK', writeCert(mail.cert)))}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal((await fetch(`${base}/.well-known/openpgpkey/example.org/policy`, { headers: { host: 'openpgpkey.example.org' } })).status, 404);
      child.kill('SIGTERM');
      assert.equal(await exited(child), 0);
      assert.match(stderr(), /^ms: SIGTERM: stopping$/m);
      assert.match(stderr(), /^ms: stopped$/m);
      assert.match(stderr(), new RegExp(`^ms: upload from 127\\.0\\.0\\.1: inserted ${k.primary.fpr}$`, 'm'));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('--lookup-burst and --lookup-every limit lookups per client; --no-web leaves a plain page', async () => {
    const { child, base } = await serve(['--store', `sqlite:${join(dir, 'serve3.sqlite')}`, '--lookup-burst', '2', '--lookup-every', '3600', '--no-web']);
    try {
      const q = `${base}/pks/lookup?op=index&options=mr&search=nothing-here`;
      assert.equal((await fetch(q)).status, 404);
      assert.equal((await fetch(q)).status, 404);
      const limited = await fetch(q);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '3600');
      const home = await fetch(`${base}/`);
      assert.match(home.headers.get('content-type') ?? '', /^text\/plain/);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });

  test('a port in use: exit 4 with a hint', async () => {
    const store = `sqlite:${join(dir, 'serve2.sqlite')}`;
    const first = await serve(['--store', store]);
    try {
      const r = await runCli(main, ['serve', '--listen', first.base.replace('http://', ''), '--store', store], { env: ENV });
      assert.equal(r.code, 4);
      assert.match(r.stderr, /cannot listen on .*EADDRINUSE/);
      assert.match(r.stderr, /hint: another process uses this port/);
    } finally {
      first.child.kill('SIGTERM');
      await exited(first.child);
    }
  });
});

describe('takedowns', () => {
  test('delete, delete --block, block, unblock, blocklist; a blocked key cannot be uploaded again', async () => {
    const path = join(dir, 'takedown.sqlite');
    const store = await openStore(path);
    const a = makeKey(['ssh://a.example.org']);
    const b = makeKey(['ssh://b.example.org']);
    const ks = await Keyserver.open(store);
    await ks.submit(writeCert(a.cert), { now: NOW });
    await ks.submit(writeCert(b.cert), { now: NOW });
    await store.close();
    const run = (args: string[]) => runCli(main, [...args, '--store', `sqlite:${path}`], { env: ENV });
    assert.equal((await run(['delete', a.primary.fpr])).code, 0);
    assert.equal((await run(['delete', a.primary.fpr])).code, 1);
    const blocked = await run(['delete', '--block', '--reason', 'GDPR request', b.primary.fpr]);
    assert.equal(blocked.code, 0, blocked.stderr);
    assert.match(blocked.stderr, /deleted .* and blocked it/);
    assert.equal((await run(['block', a.primary.fpr, '--reason', 'abuse\u001b[31m'])).code, 0);
    const list = await run(['blocklist']);
    const rows = list.text.trim().split('\n').map((l) => l.split('\t'));
    assert.deepEqual(rows.map((r) => r[0]).sort(), [a.primary.fpr, b.primary.fpr].sort());
    assert.ok(rows.some((r) => r[2] === 'GDPR request'));
    assert.ok(!list.text.includes('\u001b'), 'control characters escaped');
    const again = await openStore(path);
    try {
      const report = await (await Keyserver.open(again)).submit(writeCert(b.cert), { now: NOW });
      assert.equal(report.certs[0].status, 'blocked');
    } finally {
      await again.close();
    }
    assert.equal((await run(['unblock', b.primary.fpr])).code, 0);
    assert.equal((await run(['unblock', b.primary.fpr])).code, 1);
    assert.equal((await run(['blocklist'])).text.trim().split('\n').length, 1);
  });
});

describe('import and dump', () => {
  const signer = makeKey(['Signer <signer@example.org>']);
  const keys = Array.from({ length: 30 }, (_, i) => makeKey([`ssh://h${i}.example.org`]));
  const ring = join(dir, 'ring.pgp');
  writeFileSync(ring, Buffer.concat([writeCert(signer.cert), ...keys.map((k) => writeCert(certify(k, k.cert.users[0].text, signer)))]));

  /** Runs main with stderr claiming to be a terminal. */
  async function onTty(argv: string[]): Promise<{ code: number; stderr: string }> {
    let err = '';
    const io: Io = {
      stdout: { write: () => true },
      stderr: {
        write: (c: string | Uint8Array) => {
          err += Buffer.from(c).toString();
          return true;
        },
        isTTY: true,
      },
      stdin: Readable.from([]),
      env: { PATH: process.env.PATH, ...ENV, MONKEYSPHERE_LOG_LEVEL: 'info' },
      cwd: dir,
    };
    return { code: await main(argv, io), stderr: err };
  }

  test('import: every certificate stored, certifications by keys of the file kept; a progress bar only on a terminal', async () => {
    const path = join(dir, 'import.sqlite');
    const plain = await runCli(main, ['import', '--workers', '0', '--store', `sqlite:${path}`, ring], { env: { ...ENV, MONKEYSPHERE_LOG_LEVEL: 'info' } });
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stderr, /\r|\[#/);
    assert.match(plain.stderr, /^ms: imported 31 certificates from 1 file\(s\)/m);
    const store = await openStore(path);
    try {
      assert.equal(await store.certs.count(), 31);
      const stored = (await store.certs.get(keys[0].primary.fpr))!;
      assert.ok(stored.cert.users[0].signatures.some((s) => s.sig?.issuerFingerprints.includes(signer.primary.fpr)));
    } finally {
      await store.close();
    }
    const tty = await onTty(['import', '--workers', '1', '--store', `sqlite:${join(dir, 'import2.sqlite')}`, ring]);
    assert.equal(tty.code, 0, tty.stderr);
    assert.match(tty.stderr, /\r\[#+\] 31\/31 certificates/);
    // --resume on an unchanged file: nothing left to do.
    const resumed = await runCli(main, ['import', '--resume', '--workers', '0', '--store', `sqlite:${path}`, ring], { env: ENV });
    assert.equal(resumed.code, 0, resumed.stderr);
    const missing = await runCli(main, ['import', '--store', `sqlite:${path}`, join(dir, 'nope.pgp')], { env: ENV });
    assert.equal(missing.code, 4);
    writeFileSync(join(dir, 'junk.pgp'), 'not a key at all');
    assert.equal((await runCli(main, ['import', '--store', `sqlite:${path}`, join(dir, 'junk.pgp')], { env: ENV })).code, 3);
  });

  test('import through the installed command (its bundle) starts its verifying workers', async () => {
    ensureBuilt();
    const path = join(dir, 'import-bundle.sqlite');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/monkeysphere-keyserver.js'), 'import', '--workers', '2', '--store', `sqlite:${path}`, ring], {
      env: { PATH: process.env.PATH, ...ENV, MONKEYSPHERE_LOG_LEVEL: 'info' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /imported 31 certificates/);
  });

  test('dump: numbered files of binary certificates, all of them, loadable again', async () => {
    const path = join(dir, 'import.sqlite');
    const out = join(dir, 'dump');
    const r = await runCli(main, ['dump', '--per-file', '10', '--store', `sqlite:${path}`, out], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    const files = readdirSync(out).sort();
    assert.equal(files.length, 4);
    const certs = files.flatMap((f) => readCerts(readFileSync(join(out, f))).certs);
    assert.equal(certs.length, 31);
    assert.equal(r.text.trim().split('\n').length, 4);
  });
});
