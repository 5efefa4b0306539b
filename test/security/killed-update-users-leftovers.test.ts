/**
 * kill -9 during update-users leaves `.USER.<hex>.tmp` files beside the authorized_keys
 * files (the replacement is atomic, so no reader ever sees them). The next run, which
 * holds the lock, removes them; the files sshd reads are untouched. And a real run
 * killed at random moments leaves each file either as it was or as it would be.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuthServer, ensureBuilt } from '../auth/harness.js';
import { Person } from '../auth/pki.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BOB = 'Bob <bob@example.net>';
const WORK = 'Bob at work <bob@work.example.org>';

test('the next update-users removes the temporary files a killed run left', async () => {
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const server = new AuthServer();
  try {
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
    server.writeUserIds(`${BOB}\n`);
    await server.ok(['update-users', 'root']);
    const dir = join(server.dataDir, 'authorized_keys');
    const leftovers = ['.root.0123456789ab.tmp', '.someone.abcdef012345.tmp'];
    for (const name of leftovers) writeFileSync(join(dir, name), 'partial');
    writeFileSync(join(dir, 'unrelated'), 'not ours to remove\n');
    await server.ok(['update-users', 'root']);
    for (const name of leftovers) assert.ok(!existsSync(join(dir, name)), `${name} is still there`);
    assert.deepEqual(readdirSync(dir).sort(), ['root', 'unrelated']);
    assert.ok(readFileSync(join(dir, 'root'), 'utf8').includes(bob.sshKey));
  } finally {
    server.cleanup();
    admin.cleanup();
    bob.cleanup();
  }
});

test('update-users killed with SIGKILL at random moments: each file is the old or the new one, never partial or empty', async () => {
  ensureBuilt();
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB, WORK]).certifiedBy(admin).certifiedBy(admin, WORK);
  const server = new AuthServer();
  try {
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
    const contents = new Set<string>();
    for (const ids of [`${BOB}\n`, `${BOB}\n${WORK}\n`]) {
      server.writeUserIds(ids);
      await server.ok(['update-users', 'root']);
      contents.add(readFileSync(server.authorizedKeysFile, 'utf8'));
    }
    for (let i = 0; i < 20; i++) {
      server.writeUserIds(i % 2 === 0 ? `${BOB}\n` : `${BOB}\n${WORK}\n`);
      const child = spawn(process.execPath, [join(ROOT, 'bin/monkeysphere-authentication.js'), 'update-users', 'root'], { env: server.env, stdio: 'ignore' });
      const closed = new Promise((r) => child.once('close', r));
      await new Promise((r) => setTimeout(r, (i * 37) % 400));
      child.kill('SIGKILL');
      await closed;
      assert.ok(contents.has(readFileSync(server.authorizedKeysFile, 'utf8')), `run ${i}: a partial file`);
    }
    await server.ok(['update-users', 'root']);
    assert.deepEqual(readdirSync(join(server.dataDir, 'authorized_keys')), ['root']);
  } finally {
    server.cleanup();
    admin.cleanup();
    bob.cleanup();
  }
});
