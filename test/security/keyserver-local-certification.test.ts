/**
 * Non-exportable certifications from outside (issue 9, finding 8): an identity certifier once
 * made a local (non-exportable, gpg's lsign) certification of Mallory's user ID; Mallory's
 * keyserver serves his certificate with it. A local signature that left the machine that
 * made it must not count anywhere else: neither through update-users nor refresh-keys
 * (src/auth/ingest.ts, the one ingest path), and one already stored by earlier code is
 * removed the next time the certificate comes in. GnuPG 2.2.40 is the oracle: its import
 * drops such a signature, so the binding is not valid there either, while the very same
 * signature kept (import-local-sigs) or made exportable would make it fully valid.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuthStore } from '../../src/auth/store.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { AuthServer, ensureBuilt } from '../auth/harness.js';
import { CREATED, NOW, Person } from '../auth/pki.js';
import { GpgHome } from '../helpers/gpg.js';
import { certification, HkpStandIn, withSignatures } from './flood.js';

const MALLORY = 'Mallory <mallory@example.net>';
const MARKER = 'MonkeySphere2023-01-15T00:00:00';

before(() => ensureBuilt());

/** Signatures on Mallory's user ID in the store: [exportable, non-exportable]. */
async function storedSigs(server: AuthServer, fpr: string): Promise<[number, number]> {
  const store = await AuthStore.open(join(server.dataDir, 'authentication', 'store.sqlite'));
  try {
    const row = await store.certs.get(fpr);
    if (!row) return [0, 0];
    const user = readCerts(row.bytes).certs[0].users.find((u) => u.text === MALLORY)!;
    const local = user.signatures.filter((e) => e.sig && !e.sig.exportable).length;
    return [user.signatures.length - local, local];
  } finally {
    await store.close();
  }
}

function granted(server: AuthServer): string {
  return existsSync(server.authorizedKeysFile) ? readFileSync(server.authorizedKeysFile, 'utf8') : '';
}

describe('a keyserver serves a certificate with a certifier\'s non-exportable certification', () => {
  let keyserver: HkpStandIn;
  const admin = new Person(['Admin <admin@example.net>']);
  const mallory = new Person([MALLORY]);
  const lsign = certification(mallory.cert, MALLORY, admin, CREATED + 86400, false);
  const sign = certification(mallory.cert, MALLORY, admin, CREATED + 86400, true);
  const withLocal = withSignatures(mallory.cert, MALLORY, [lsign]);
  const withExportable = withSignatures(mallory.cert, MALLORY, [sign]);

  before(async () => {
    keyserver = await HkpStandIn.start();
  });
  after(async () => {
    await keyserver.stop();
    admin.cleanup();
    mallory.cleanup();
  });

  async function server(extra: Record<string, string> = {}): Promise<AuthServer> {
    const s = new AuthServer({ MONKEYSPHERE_KEYSERVER: keyserver.url, ...extra });
    await s.ok(['setup']);
    await s.addCertifier(admin);
    s.writeUserIds(`${MALLORY}\n`);
    return s;
  }

  test('update-users: the local certification is not stored and grants nothing; the same certification exportable grants access', async () => {
    const s = await server({ MONKEYSPHERE_CHECK_KEYSERVER: 'true', MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' });
    try {
      keyserver.serve([withLocal]);
      const r = await s.run(['update-users', 'root']);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(keyserver.requests.includes(`get 0x${mallory.fpr}`), 'the certificate came from the keyserver');
      assert.equal(granted(s), '', 'a non-exportable certification from a keyserver granted access');
      assert.deepEqual(await storedSigs(s, mallory.fpr), [1, 0]);
      assert.match(r.stderr, new RegExp(`^ms: keyserver: key ${mallory.fpr} for "${MALLORY}": dropped 1 non-exportable signature$`, 'm'));
      // Control: the exportable certification does count, so the local one was refused for being local.
      keyserver.serve([withExportable]);
      await s.ok(['update-users', 'root']);
      assert.equal(granted(s), `${mallory.sshKey} ${MARKER} ${MALLORY}\n`);
    } finally {
      s.cleanup();
    }
  });

  test('refresh-keys: the local certification in the refreshed copy is dropped; nothing is updated', async () => {
    const s = await server();
    try {
      await s.importCert(mallory);
      keyserver.serve([withLocal]);
      const r = await s.run(['refresh-keys']);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(keyserver.requests.includes(`get 0x${mallory.fpr}`), 'refresh-keys asked the keyserver');
      await s.ok(['update-users', 'root']);
      assert.equal(granted(s), '', 'a non-exportable certification from refresh-keys granted access');
      assert.deepEqual(await storedSigs(s, mallory.fpr), [1, 0]);
      assert.match(r.stderr, new RegExp(`^ms: key ${mallory.fpr}: dropped 1 non-exportable signature$`, 'm'));
      assert.match(r.stderr, /refreshed \d+ key\(s\): 0 updated/);
    } finally {
      s.cleanup();
    }
  });

  test('gpg-cmd --import drops it too, and a local certification stored by earlier code is removed at the next fetch', async () => {
    const s = await server({ MONKEYSPHERE_CHECK_KEYSERVER: 'true' });
    try {
      const imported = await s.run(['gpg-cmd', '--import'], withLocal);
      assert.equal(imported.status, 0, imported.stderr);
      assert.match(imported.stderr, new RegExp(`^ms: key ${mallory.fpr}: dropped 1 non-exportable signature$`, 'm'));
      assert.deepEqual(await storedSigs(s, mallory.fpr), [1, 0]);
      // The store as the earlier update-users left it: the local certification stored as fetched.
      const store = await AuthStore.open(join(s.dataDir, 'authentication', 'store.sqlite'));
      try {
        await store.putCerts(readCerts(withLocal).certs, NOW);
      } finally {
        await store.close();
      }
      assert.deepEqual(await storedSigs(s, mallory.fpr), [1, 1]);
      keyserver.serve([mallory.bytes]);
      await s.ok(['update-users', 'root']);
      assert.equal(granted(s), '', 'a stored non-exportable certification from outside granted access');
      assert.deepEqual(await storedSigs(s, mallory.fpr), [1, 0]);
    } finally {
      s.cleanup();
    }
  });

  test('the trust core\'s own local signatures survive a refresh of the certifier', async () => {
    const s = await server();
    try {
      // The admin's certificate carries the core's local trust signature; refreshing it from a
      // keyserver (which never has that signature, and here has something new) must keep it,
      // or the certifier is lost.
      const friend = new Person(['Friend <friend@example.net>']);
      const adminUid = admin.userIds[0];
      const newer = withSignatures(admin.cert, adminUid, [certification(admin.cert, adminUid, friend, CREATED + 2 * 86400, true)]);
      friend.cleanup();
      keyserver.serve([newer, withExportable]);
      await s.importCert(withExportable);
      const r = await s.run(['refresh-keys']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /refreshed 2 key\(s\): 1 updated/);
      assert.doesNotMatch(r.stderr, /dropped/);
      assert.equal((await s.ok(['list-id-certifiers'])).stdout, `${admin.fpr}:\n :Admin <admin@example.net>:1:120:\n`);
      await s.ok(['update-users', 'root']);
      assert.equal(granted(s), `${mallory.sshKey} ${MARKER} ${MALLORY}\n`);
    } finally {
      s.cleanup();
    }
  });

  test('gpg 2.2 (the oracle): importing the certificate drops the local certification, so the binding is not valid', () => {
    const gpg = new GpgHome(NOW);
    try {
      gpg.ok(['--import'], admin.bytes);
      gpg.ok(['--import-ownertrust'], `${admin.fpr}:6:\n`);
      const uidValidity = () => {
        gpg.ok(['--check-trustdb']);
        return gpg.colons(['--list-keys', mallory.fpr]).find((f) => f[0] === 'uid')?.[1];
      };
      const imported = gpg.ok(['--import'], withLocal);
      assert.match(imported.stderr, /imported: 1/);
      const sigs = gpg.colons(['--list-sigs', mallory.fpr]).filter((f) => f[0] === 'sig');
      assert.ok(!sigs.some((f) => f[4] === admin.fpr.slice(-16)), 'gpg kept no signature by the admin');
      assert.notEqual(uidValidity(), 'f');
      assert.notEqual(uidValidity(), 'u');
      // The same signature, kept on purpose (as a local keyring would), or made exportable, does count.
      gpg.ok(['--import-options', 'import-local-sigs', '--import'], withLocal);
      assert.equal(uidValidity(), 'f');
      gpg.ok(['--batch', '--yes', '--delete-keys', mallory.fpr]);
      gpg.ok(['--import'], withExportable);
      assert.equal(uidValidity(), 'f');
    } finally {
      gpg.cleanup();
    }
  });
});
