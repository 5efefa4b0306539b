/**
 * The login path when sshd names the offered key (`AuthorizedKeysCommand … %u %f`), with
 * a real sshd and a real SKS keyserver, as root and as AuthorizedKeysCommandUser
 * monkeysphere:
 * - the decision is logged in one line naming the user ID, the certificate and the
 *   certifier (Ed25519 and RSA), or why the key is refused;
 * - just in time: a user whose certificate is only on the keyserver logs in on the first
 *   try; with the keyserver silent, the login is answered once the bound has passed;
 * - freshness: a certificate staler than REFRESH_MAX_AGE is refreshed first, so a
 *   revocation published on the keyserver refuses the login at once.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KeyserverClient } from '../../src/keyserver/client.js';
import { useSks } from '../helpers/sks.js';
import { AuthServer, ensureBuilt, installCopy, monkeysphereAccount, SHARED_BASE } from './harness.js';
import { NOW, Person } from './pki.js';

const program = join(SHARED_BASE, `program-ks-${process.pid}`);

function fingerprintOf(p: Person): string {
  return spawnSync('ssh-keygen', ['-lf', '-'], { input: `${p.sshKey}\n` }).stdout.toString().split(' ')[1];
}

async function scene(keyserver: string, extraEnv: Record<string, string> = {}) {
  const logFile = join(SHARED_BASE, `login-${process.pid}-${Math.random().toString(16).slice(2)}.log`);
  writeFileSync(logFile, '');
  // Written by the command, which runs as monkeysphere in some tests.
  chmodSync(logFile, 0o666);
  const server = new AuthServer(
    {
      MONKEYSPHERE_MONKEYSPHERE_USER: 'monkeysphere',
      MONKEYSPHERE_KEYSERVER: keyserver,
      MONKEYSPHERE_LOGIN_KEYSERVER_TIMEOUT: '5',
      MONKEYSPHERE_LOGIN_LOG: `file:${logFile}`,
      ...extraEnv,
    },
    { base: SHARED_BASE, programRoot: program },
  );
  const admin = new Person(['Admin <admin@example.net>']);
  await server.ok(['setup']);
  await server.addCertifier(admin);
  return {
    server,
    admin,
    log: () => readFileSync(logFile, 'utf8'),
    cleanup: () => {
      server.cleanup();
      admin.cleanup();
      rmSync(logFile, { force: true });
    },
  };
}

before(() => {
  ensureBuilt();
  monkeysphereAccount();
  installCopy(program);
});
after(() => rmSync(program, { recursive: true, force: true }));

describe('with a real SKS keyserver', () => {
  const sks = useSks();

  test('refresh-keys records each confirmation, and diagnostics reports the window for revocations', async () => {
    const sc = await scene(sks().url, { MONKEYSPHERE_REFRESH_MAX_AGE: '3600', MONKEYSPHERE_SSHD: '/bin/false' });
    const frank = new Person(['Frank <frank@example.net>']).certifiedBy(sc.admin);
    try {
      await sc.server.importCert(frank);
      sc.server.writeUserIds('Frank <frank@example.net>\n');
      await new KeyserverClient({ servers: [sks().url] }).send([sc.admin.cert, frank.cert]);
      // Frank's certificate and the certifier's own (its user ID is valid, so its keys are granted too).
      const before = await sc.server.run(['diagnostics']);
      assert.match(before.stdout, /! 2 of 2 certificate\(s\) granting keys were never confirmed by the keyserver \(for instance [0-9A-F]{40}\).*REFRESH_MAX_AGE is 3600 s\./);
      await sc.server.ok(['refresh-keys']);
      const after = await sc.server.run(['diagnostics']);
      assert.match(after.stdout, /revocations reach this host within 0 h: the least recently confirmed of 2 certificate\(s\) granting keys, [0-9A-F]{40}, was confirmed on 2023-01-15/);
      // Confirmed just now: the login does not ask the keyserver again.
      const r = await sc.server.login('command', frank, 'true', { tokens: '%u %f' });
      assert.equal(r.status, 0);
      assert.doesNotMatch(sc.log(), /freshness refresh|REFRESH_MAX_AGE/);
    } finally {
      sc.cleanup();
      frank.cleanup();
    }
  });

  for (const commandUser of ['root', 'monkeysphere']) {
    test(`just in time, as ${commandUser}: a user only on the keyserver logs in on the first try, and the log names who vouched (Ed25519, RSA)`, async () => {
      const sc = await scene(sks().url);
      const bob = new Person([`Bob ${commandUser} <bob-${commandUser}@example.net>`]).certifiedBy(sc.admin);
      const dave = new Person([`Dave ${commandUser} <dave-${commandUser}@example.net>`], { alg: 'rsa' }).certifiedBy(sc.admin);
      const mallory = new Person([`Mallory ${commandUser} <mallory-${commandUser}@example.net>`]);
      try {
        await new KeyserverClient({ servers: [sks().url] }).send([sc.admin.cert, bob.cert, dave.cert, mallory.cert]);
        sc.server.writeUserIds(`${bob.userIds[0]}\n${dave.userIds[0]}\n${mallory.userIds[0]}\n`);
        for (const [i, p] of [bob, dave].entries()) {
          // A minute on: one login-time lookup per account and minute (an unprivileged reader stores nothing it fetched).
          sc.server.setNow(NOW + i * 120);
          const r = await sc.server.login('command', p, 'true', { commandUser, tokens: '%u %f' });
          assert.equal(r.status, 0, `${p.userIds[0]} logs in\n${sc.log()}\n${r.sshdLog}`);
          const line = sc.log().split('\n').find((l) => l.includes(`accepted ${fingerprintOf(p)}`));
          assert.ok(line, `a log line accepting ${p.userIds[0]}:\n${sc.log()}`);
          assert.match(line, new RegExp(`for "root": user ID "${p.userIds[0]}", certificate ${p.fpr}: fully valid, certified by ${sc.admin.fpr} "Admin <admin@example\\.net>"`));
        }
        const refused = await sc.server.login('command', mallory, 'true', { commandUser, tokens: '%u %f' });
        assert.equal(refused.status, 255);
        assert.match(sc.log(), new RegExp(`refused ${fingerprintOf(mallory).replace(/[+/]/g, '\\$&')} for "root": not among the 2 key\\(s\\)`));
        // Root stores what it fetched; the unprivileged reader stores nothing.
        const stored = (await sc.server.ok(['gpg-cmd', '--list-keys'])).stdout;
        assert.equal(stored.includes(bob.fpr), commandUser === 'root', stored);
      } finally {
        sc.cleanup();
        for (const p of [bob, dave, mallory]) p.cleanup();
      }
    });

    test(`freshness, as ${commandUser}: a certificate older than REFRESH_MAX_AGE is refreshed, and its revocation refuses the login`, async () => {
      const sc = await scene(sks().url, { MONKEYSPHERE_REFRESH_MAX_AGE: '3600' });
      const erin = new Person([`Erin ${commandUser} <erin-${commandUser}@example.net>`]).certifiedBy(sc.admin);
      try {
        await sc.server.importCert(erin);
        sc.server.writeUserIds(`${erin.userIds[0]}\n`);
        await new KeyserverClient({ servers: [sks().url] }).send([erin.revokeKey(NOW - 60)]);
        const r = await sc.server.login('command', erin, 'true', { commandUser, tokens: '%u %f' });
        assert.equal(r.status, 255, `Erin's revoked key is refused\n${sc.log()}`);
        assert.match(sc.log(), /never confirmed, more than REFRESH_MAX_AGE 3600 s: refreshed/);
      } finally {
        sc.cleanup();
        erin.cleanup();
      }
    });
  }
});

describe('with a keyserver that serves a flooded certificate', () => {
  test('the answer is refused at 256 KiB, so the login costs no more than the bound', async () => {
    const sc = await scene('', { MONKEYSPHERE_LOGIN_KEYSERVER_TIMEOUT: '5' });
    const eve = new Person(['Eve <eve@example.net>']).certifiedBy(sc.admin);
    // Eve's certificate followed by 400 KiB of junk signatures' worth of bytes: as big as a flood gets under the general cap.
    const flood = Buffer.concat([eve.bytes, Buffer.alloc(400 * 1024, 0x88)]);
    // In a process of its own: the test's event loop is blocked while ssh runs (spawnSync).
    const floodFile = join(SHARED_BASE, `flood-${process.pid}.pgp`);
    writeFileSync(floodFile, flood);
    const index = `info:1:1\npub:${eve.fpr}:22:256:${NOW - 365 * 86400}::\nuid:Eve <eve@example.net>:${NOW - 365 * 86400}::\n`;
    const script = `const fs=require('fs');const h=require('http').createServer((q,r)=>{if(q.url.includes('op=index')){r.end(${JSON.stringify(index)});return}r.end(fs.readFileSync(${JSON.stringify(floodFile)}))});h.listen(0,'127.0.0.1',()=>console.log(h.address().port))`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve) => child.stdout?.once('data', (d) => resolve(String(d).trim())));
    sc.server.env.MONKEYSPHERE_KEYSERVER = `hkp://127.0.0.1:${port}`;
    try {
      sc.server.writeUserIds('Eve <eve@example.net>\n');
      const r = await sc.server.login('command', eve, 'true', { commandUser: 'monkeysphere', tokens: '%u %f' });
      assert.equal(r.status, 255);
      assert.match(sc.log(), /refused \S+ for "root": .*just-in-time lookup of 1 user ID\(s\): the key is still not granted/);
      assert.doesNotMatch(sc.log(), /no answer from the keyserver/);
      assert.match(sc.log(), /just-in-time lookup of "Eve <eve@example\.net>": .*262144/);
    } finally {
      child.kill();
      rmSync(floodFile, { force: true });
      sc.cleanup();
      eve.cleanup();
    }
  });
});

describe('with a keyserver that never answers', () => {
  test('the login is answered when the bound has passed, from the store', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const url = `hkp://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const sc = await scene(url, { MONKEYSPHERE_LOGIN_KEYSERVER_TIMEOUT: '1' });
    const bob = new Person(['Bob <bob@example.net>']).certifiedBy(sc.admin);
    const carol = new Person(['Carol <carol@example.net>']).certifiedBy(sc.admin);
    try {
      await sc.server.importCert(bob);
      sc.server.writeUserIds('Bob <bob@example.net>\nCarol <carol@example.net>\n');
      assert.equal((await sc.server.login('command', bob, 'true', { commandUser: 'monkeysphere', tokens: '%u %f' })).status, 0, 'Bob, stored, logs in');
      const r = await sc.server.login('command', carol, 'true', { commandUser: 'monkeysphere', tokens: '%u %f' });
      assert.equal(r.status, 255, 'Carol, on no reachable keyserver, is refused');
      assert.match(sc.log(), /refused \S+ for "root": .*just-in-time lookup: no answer from the keyserver within 1000 ms/);
      // A stranger offering key after key costs one lookup per account and minute, not one per key.
      const again = await sc.server.login('command', carol, 'true', { commandUser: 'monkeysphere', tokens: '%u %f' });
      assert.equal(again.status, 255);
      assert.match(sc.log(), /no just-in-time lookup: a keyserver lookup for this account was made \d+ s ago \(at most one per 60 s\)/);
      assert.ok(existsSync(sc.server.uidsFile));
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
      sc.cleanup();
      bob.cleanup();
      carol.cleanup();
    }
  });
});
