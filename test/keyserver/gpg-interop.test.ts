/**
 * GnuPG 2.2.40 and our client as two clients of one SKS 1.1.6: what gpg uploads we
 * fetch and search, and what we upload gpg receives, certifications included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KeyserverClient } from '../../src/keyserver/client.js';
import { GpgHome } from '../helpers/gpg.js';
import { SksServer } from '../helpers/sks.js';
import { certifiers, certify, makeKey } from './keys.js';

const KEEP_CERTIFICATIONS = ['--keyserver-options', 'no-self-sigs-only,no-import-clean'];

describe('GnuPG and our client share an SKS', () => {
  let sks: SksServer;
  let gpg: GpgHome;
  let client: KeyserverClient;

  before(async () => {
    sks = await SksServer.start();
    gpg = new GpgHome();
    client = new KeyserverClient({ servers: [sks.url], timeoutMs: 15_000 });
  });
  after(async () => {
    gpg?.cleanup();
    await sks?.stop();
  });

  /** The fingerprint of the only key with this user ID in the gpg home. */
  const fprOf = (uid: string): string => {
    const rows = gpg.colons(['--list-keys', `=${uid}`]);
    const i = rows.findIndex((r) => r[0] === 'pub');
    return rows.slice(i).find((r) => r[0] === 'fpr')![9];
  };

  test('what gpg --send-keys uploaded, we fetch and find by exact user ID, certification included', async () => {
    gpg.ok(['--quick-gen-key', 'ssh://gpg.example.org', 'ed25519', 'cert,auth', '0']);
    gpg.ok(['--quick-gen-key', 'Gpg Certifier <certifier@example.org>', 'ed25519', 'cert', '0']);
    const host = fprOf('ssh://gpg.example.org');
    const certifier = fprOf('Gpg Certifier <certifier@example.org>');
    gpg.ok(['-u', certifier, '--quick-sign-key', host, 'ssh://gpg.example.org']);
    gpg.ok(['--keyserver', sks.url, '--send-keys', host]);

    const got = await client.getByFingerprint(host);
    assert.equal(got.certs.length, 1);
    assert.deepEqual(got.problems, []);
    const cert = got.certs[0];
    assert.deepEqual(cert.users.map((u) => u.text), ['ssh://gpg.example.org']);
    assert.deepEqual(certifiers(cert, 'ssh://gpg.example.org'), [certifier]);

    const found = await client.searchExact('ssh://gpg.example.org');
    assert.deepEqual(found.certs.map((c) => c.primary.fpr), [host]);

    // The same bytes gpg exports, up to packet order.
    const exported = gpg.ok(['--export', host]).stdoutBytes;
    const mine = Buffer.concat(cert.packets.map((p) => p.raw));
    assert.equal(mine.length, exported.length);
  });

  test('what we send, gpg --recv-keys imports; certifications need no-self-sigs-only', async () => {
    const server = makeKey(['ssh://ours.example.org']);
    const signer = makeKey(['Our Certifier <ours@example.org>']);
    const certified = certify(server, 'ssh://ours.example.org', signer);
    await client.send([certified]);

    const plain = new GpgHome();
    try {
      plain.ok(['--keyserver', sks.url, '--recv-keys', server.primary.fpr]);
      const sigs = plain.colons(['--list-sigs', server.primary.fpr]).filter((r) => r[0] === 'sig');
      // gpg 2.2.17+ drops keyserver certifications by default (CVE-2019-13050).
      assert.deepEqual(sigs.map((r) => r[4]), [server.primary.keyId]);
    } finally {
      plain.cleanup();
    }

    gpg.ok(['--keyserver', sks.url, ...KEEP_CERTIFICATIONS, '--recv-keys', server.primary.fpr]);
    const sigs = gpg.colons(['--list-sigs', server.primary.fpr]).filter((r) => r[0] === 'sig');
    assert.deepEqual(sigs.map((r) => r[4]).sort(), [server.primary.keyId, signer.primary.keyId].sort());
    const uids = gpg.colons(['--list-keys', server.primary.fpr]).filter((r) => r[0] === 'uid');
    assert.deepEqual(uids.map((r) => r[9].replace(/\\x3a/g, ':')), ['ssh://ours.example.org']);
  });

  test('gpg --refresh-keys sees a certification we uploaded later', async () => {
    const k = makeKey(['ssh://refresh.example.org']);
    await client.send([k.cert]);
    gpg.ok(['--keyserver', sks.url, ...KEEP_CERTIFICATIONS, '--recv-keys', k.primary.fpr]);
    const before = gpg.colons(['--list-sigs', k.primary.fpr]).filter((r) => r[0] === 'sig');
    assert.equal(before.length, 1);

    const late = makeKey(['Late Certifier <late@example.org>']);
    await client.send([certify(k, 'ssh://refresh.example.org', late)]);
    gpg.ok(['--keyserver', sks.url, ...KEEP_CERTIFICATIONS, '--refresh-keys', k.primary.fpr]);
    const afterRefresh = gpg.colons(['--list-sigs', k.primary.fpr]).filter((r) => r[0] === 'sig');
    assert.deepEqual(afterRefresh.map((r) => r[4]).sort(), [k.primary.keyId, late.primary.keyId].sort());
  });
});
