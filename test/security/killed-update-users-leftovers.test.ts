/**
 * kill -9 during update-users leaves `.USER.<hex>.tmp` files beside the authorized_keys
 * files (the replacement is atomic, so no reader ever sees them). The next run, which
 * holds the lock, removes them; the files sshd reads are untouched.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuthServer } from '../auth/harness.js';
import { Person } from '../auth/pki.js';

const BOB = 'Bob <bob@example.net>';

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
