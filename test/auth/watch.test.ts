/**
 * Triggered updates: `monkeysphere-authentication watch` rewrites an account's
 * authorized_keys when its authorized_user_ids changes and when a certifier is removed,
 * without anyone running update-users; and the systemd units that run it and the timers
 * are valid (systemd-analyze verify).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuthServer, ensureBuilt } from './harness.js';
import { Person } from './pki.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BOB = 'Bob <bob@example.net>';

/** Waits until `check` holds, looking every 100 ms, for at most `limitMs` (a bound against hanging, not a timing requirement). */
async function eventually(what: string | (() => string), check: () => boolean, limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('watch', () => {
  const server = new AuthServer();
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  let child: ChildProcess;
  let stderr = '';
  const keys = () => (existsSync(server.authorizedKeysFile) ? readFileSync(server.authorizedKeysFile, 'utf8') : '');

  before(async () => {
    ensureBuilt();
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
    server.writeUserIds('');
    child = spawn(process.execPath, [join(ROOT, 'bin/monkeysphere-authentication.js'), 'watch', '--interval', '0.2', 'root'], { env: server.env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    await eventually('the watcher starts', () => stderr.includes('watching 1 account(s)'));
  });
  after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    server.cleanup();
    admin.cleanup();
    bob.cleanup();
  });

  test('a new line in authorized_user_ids grants the key', async () => {
    assert.equal(keys(), '');
    server.writeUserIds(`${BOB}\n`);
    await eventually(() => `Bob's key in authorized_keys/root; watch said:\n${stderr}`, () => keys().includes(bob.sshKey));
  });

  test('removing the certifier takes it away again', async () => {
    await server.ok(['remove-id-certifier', admin.fpr]);
    await eventually(() => `Bob's key gone from authorized_keys/root; watch said:\n${stderr}`, () => !keys().includes(bob.sshKey));
  });

  test('SIGTERM stops it', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});

describe('contrib/systemd', () => {
  test('the units verify', () => {
    const units = ['monkeysphere-update-users.service', 'monkeysphere-update-users.timer', 'monkeysphere-refresh-keys.service', 'monkeysphere-refresh-keys.timer', 'monkeysphere-authentication-watch.service'];
    const r = spawnSync('systemd-analyze', ['verify', ...units.map((u) => join(ROOT, 'contrib/systemd', u))], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  test('the timers spread their runs', () => {
    for (const timer of ['monkeysphere-update-users.timer', 'monkeysphere-refresh-keys.timer']) {
      assert.match(readFileSync(join(ROOT, 'contrib/systemd', timer), 'utf8'), /^RandomizedDelaySec=\S+$/m, timer);
    }
  });
});
