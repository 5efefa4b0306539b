/**
 * What earlier versions left in a store must not keep their effects after an upgrade:
 * - a certifier's non-exportable certification stored before ingest stripped them grants
 *   nothing, even while the keyserver that would bring a clean copy is unreachable: on a
 *   server only the trust core makes local certifications;
 * - bindings precomputed by other code are not fresh: the first run after an upgrade
 *   recomputes them, so a fixed rule takes effect at once.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuthStore } from '../../src/auth/store.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { AuthServer, ensureBuilt } from '../auth/harness.js';
import { CREATED, NOW, Person } from '../auth/pki.js';
import { certification, withSignatures } from './flood.js';

const MALLORY = 'Mallory <mallory@example.net>';

function storeOf(server: AuthServer): Promise<AuthStore> {
  return AuthStore.open(join(server.dataDir, 'authentication', 'store.sqlite'));
}

function granted(server: AuthServer): string {
  return existsSync(server.authorizedKeysFile) ? readFileSync(server.authorizedKeysFile, 'utf8') : '';
}

test("a certifier's local certification stored by earlier code grants nothing, with the keyserver unreachable", async () => {
  ensureBuilt();
  const admin = new Person(['Admin <admin@example.net>']);
  const mallory = new Person([MALLORY]);
  // A keyserver nobody listens on: no clean copy can arrive.
  const server = new AuthServer({ MONKEYSPHERE_KEYSERVER: 'hkp://127.0.0.1:9', MONKEYSPHERE_CHECK_KEYSERVER: 'true' });
  try {
    await server.ok(['setup']);
    await server.addCertifier(admin);
    server.writeUserIds(`${MALLORY}\n`);
    for (const exportable of [false, true]) {
      const bytes = withSignatures(mallory.cert, MALLORY, [certification(mallory.cert, MALLORY, admin, CREATED + 86400 + (exportable ? 1 : 0), exportable)]);
      // Stored directly, as the code before the one ingest path did.
      const store = await storeOf(server);
      try {
        await store.putCerts(readCerts(bytes).certs, NOW);
      } finally {
        await store.close();
      }
      await server.run(['update-users', 'root']);
      assert.equal(granted(server).includes(mallory.sshKey), exportable, exportable ? 'the exportable certification counts' : 'the local certification counts');
    }
  } finally {
    server.cleanup();
    admin.cleanup();
    mallory.cleanup();
  }
});

test('bindings precomputed by other code are recomputed on the first run after an upgrade', async () => {
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person(['Bob <bob@example.net>']).certifiedBy(admin);
  const server = new AuthServer();
  try {
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
    server.writeUserIds('Bob <bob@example.net>\n');
    await server.ok(['update-users', 'root']);
    let store = await storeOf(server);
    const fresh = await store.state();
    assert.ok(await store.isFresh(NOW, fresh));
    // What an older version leaves: the same change seq, a different code stamp, and a wrong answer.
    const older = JSON.stringify({ ...fresh.computed, code: 'older code' });
    const wrong = JSON.stringify({ fpr: bob.fpr, validity: 'f', keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'] });
    assert.ok(await store.store.derived.replace('auth.bindings', older, fresh.seq, [['Bob <bob@example.net>', wrong]]));
    assert.equal(await store.isFresh(NOW), false);
    await store.close();
    const k = await server.ok(['keys-for-user', 'root']);
    assert.ok(k.stdout.includes(bob.sshKey), 'the login path recomputes');
    assert.ok(!k.stdout.includes('AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'));
    store = await storeOf(server);
    assert.equal((await store.state()).computed?.code, fresh.computed?.code, 'and the recomputation is saved with this code');
    await store.close();
  } finally {
    server.cleanup();
    admin.cleanup();
    bob.cleanup();
  }
});
