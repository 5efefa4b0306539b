/**
 * Attack: a local user makes authorized_user_ids (or ~/.ssh/authorized_keys) a FIFO
 * that nobody writes. Opening it blocking would hang update-users while it holds the
 * global lock, and with it every c+, c- and gpg-cmd --import, and hang sshd's
 * AuthorizedKeysCommand. Users' files are opened non-blocking and refused unless regular.
 * The compiled commands run as child processes with a kill timeout, so a regression
 * fails this test instead of hanging the suite.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureBuilt } from '../auth/harness.js';
import { Person } from '../auth/pki.js';
import { LocalUser, userServer } from './local-user.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BOB = 'Bob <bob@example.net>';
/** Far beyond any honest run; only there so that a hang fails instead of blocking CI. */
const HANG_GUARD_MS = 120_000;

before(() => ensureBuilt());
const user = new LocalUser();
after(() => user.remove());

function command(name: string, args: string[], env: Record<string, string>, input?: Buffer): Promise<{ status: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', `${name}.js`), ...args], { env, stdio: ['pipe', 'ignore', 'pipe'], timeout: HANG_GUARD_MS });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdin.end(input ?? '');
    child.on('close', (status, signal) => resolve({ status, signal, stderr }));
  });
}

test('FIFOs as user files: update-users, keys-for-user and a concurrent gpg-cmd --import all finish', async () => {
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const server = userServer();
  try {
    await server.ok(['setup']);
    await server.addCertifier(admin);
    for (const rel of ['.monkeysphere/authorized_user_ids', '.ssh/authorized_keys']) {
      rmSync(join(user.home, rel), { force: true });
      assert.equal(spawnSync('mkfifo', [join(user.home, rel)]).status, 0);
    }
    const [update, keys, imported] = await Promise.all([
      command('monkeysphere-authentication', ['update-users', user.name], server.env),
      command('monkeysphere-authentication-keys-for-user', [user.name], server.env),
      command('monkeysphere-authentication', ['gpg-cmd', '--import'], server.env, bob.bytes),
    ]);
    assert.equal(update.signal, null, 'update-users hung on a FIFO');
    assert.equal(update.status, 1);
    assert.match(update.stderr, /authorized_user_ids' is not a regular file; not using/);
    assert.match(update.stderr, /authorized_keys' is not a regular file; not using/);
    assert.equal(keys.signal, null, 'keys-for-user hung on a FIFO');
    assert.equal(keys.status, 0, keys.stderr);
    assert.equal(imported.signal, null, 'gpg-cmd --import waited on the lock forever');
    assert.equal(imported.status, 0, imported.stderr);
  } finally {
    server.cleanup();
    admin.cleanup();
    bob.cleanup();
  }
});
