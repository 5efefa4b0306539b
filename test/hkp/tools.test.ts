/**
 * Our own tools against our keyserver: the keyserver client (src/keyserver/), monkeysphere-host
 * publish-keys, and monkeysphere-authentication update-users with CHECK_KEYSERVER and
 * refresh-keys picking up a revocation, as test/host and test/auth run them against SKS.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { KeyserverClient } from '../../src/keyserver/client.js';
import { AuthServer } from '../auth/harness.js';
import { NOW as AUTH_NOW, Person } from '../auth/pki.js';
import { HostEnv } from '../host/harness.js';
import { certifiers, certify, makeKey } from '../keyserver/keys.js';
import { Scratch } from '../ssh/tools.js';
import { TestServer } from './harness.js';

const BOB = 'Bob <bob@example.net>';
const MARKER = 'MonkeySphere2023-01-15T00:00:00';

describe('our tools against our keyserver', () => {
  let s: TestServer;
  const scratch = new Scratch();
  before(async () => {
    // The auth tests' reference time, so their certificates are current for the server too.
    s = await TestServer.start({ now: () => AUTH_NOW + 3600 });
  });
  after(async () => {
    scratch.cleanup();
    await s.stop();
  });
  const client = () => new KeyserverClient({ servers: [s.url], timeoutMs: 15_000 });

  test('the keyserver client: send, get by fingerprint and key ID, exact search, certifications kept', async () => {
    const host = makeKey(['ssh://client.example.org']);
    const signer = makeKey(['Signer <signer@example.org>']);
    const sent = await client().send([signer.cert, certify(host, 'ssh://client.example.org', signer)]);
    assert.equal(sent.sent.length, 2);
    assert.match(sent.reply, new RegExp(`^inserted ${host.primary.fpr}`, 'm'));
    const got = await client().getByFingerprint(host.primary.fpr);
    assert.deepEqual(certifiers(got.certs[0], 'ssh://client.example.org'), [signer.primary.fpr]);
    assert.equal((await client().getByKeyId(host.primary.keyId)).certs[0].primary.fpr, host.primary.fpr);
    const found = await client().searchExact('ssh://client.example.org');
    assert.deepEqual(
      found.certs.map((c) => c.primary.fpr),
      [host.primary.fpr],
    );
    // A longer host name holding this one is not an exact match.
    await client().send([makeKey(['ssh://client.example.org.evil.example']).cert]);
    assert.deepEqual(
      (await client().searchExact('ssh://client.example.org')).certs.map((c) => c.primary.fpr),
      [host.primary.fpr],
    );
  });

  test('monkeysphere-host publish-keys: the host key lands on our server', async () => {
    const h = new HostEnv({ MONKEYSPHERE_KEYSERVER: s.url });
    try {
      await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://published.example.org']);
      const r = await h.ok(['publish-keys']);
      const [fpr] = h.fingerprints();
      assert.match(r.stderr, new RegExp(`key ${fpr} published to`));
      const stored = await s.store.certs.get(fpr);
      assert.deepEqual(
        stored?.cert.users.map((u) => u.text),
        ['ssh://published.example.org'],
      );
    } finally {
      h.cleanup();
    }
  });

  test('monkeysphere-authentication update-users with CHECK_KEYSERVER fetches Bob; refresh-keys brings his revocation', async () => {
    const admin = new Person(['Admin <admin@example.net>']);
    const bob = new Person([BOB]).certifiedBy(admin);
    const server = new AuthServer({ MONKEYSPHERE_KEYSERVER: s.url, MONKEYSPHERE_CHECK_KEYSERVER: 'true' });
    try {
      await client().send([admin.cert, bob.cert]);
      const added = await server.run(['add-id-certifier', admin.fpr.slice(-16)]);
      assert.equal(added.status, 0, added.stderr);
      server.writeUserIds(`${BOB}\n`);
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
      await client().send([bob.revokeKey(AUTH_NOW - 3600)]);
      server.env.MONKEYSPHERE_CHECK_KEYSERVER = 'false';
      const refreshed = await server.run(['refresh-keys']);
      assert.equal(refreshed.status, 0, refreshed.stderr);
      assert.match(refreshed.stderr, /1 updated/);
      await server.ok(['update-users', 'root']);
      assert.throws(() => readFileSync(server.authorizedKeysFile), { code: 'ENOENT' });
    } finally {
      server.cleanup();
      admin.cleanup();
      bob.cleanup();
    }
  });
});
