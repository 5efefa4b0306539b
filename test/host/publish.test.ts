/**
 * publish-keys, add-revoker by key ID and revoke-key's publishing, against a real SKS
 * 1.1.6 on loopback; gpg fetches what was published.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KeyserverClient } from '../../src/keyserver/client.js';
import { GpgHome } from '../helpers/gpg.js';
import { freePort, SksServer } from '../helpers/sks.js';
import { Scratch } from '../ssh/tools.js';
import { colons, esc, HostEnv, T0 } from './harness.js';

const scratch = new Scratch();
after(() => scratch.cleanup());

describe('with an HKP keyserver on loopback (SKS 1.1.6)', () => {
  let sks: SksServer;
  let h: HostEnv;
  before(async () => {
    sks = await SksServer.start();
    h = new HostEnv({ MONKEYSPHERE_KEYSERVER: sks.url });
  });
  after(async () => {
    h.cleanup();
    await sks.stop();
  });
  const client = () => new KeyserverClient({ servers: [sks.url] });

  test('publish-keys sends every host key; gpg --recv-keys gets them', async () => {
    const a = scratch.sshKeygen('ed25519');
    await h.ok(['import-key', a, 'ssh://pub-a.example.org']);
    h.now += 1;
    await h.ok(['import-key', scratch.sshKeygen('rsa'), 'https://pub-b.example.org']);
    const r = await h.ok(['publish-keys']);
    for (const fpr of h.fingerprints()) {
      assert.match(r.stderr, new RegExp(`key ${fpr} published to`));
      const got = await client().getByFingerprint(fpr);
      assert.equal(got.certs[0].primary.fpr, fpr);
    }
    const gpg = new GpgHome(T0 + 100);
    try {
      gpg.ok(['--keyserver', sks.url, '--recv-keys', ...h.fingerprints()]);
      const uids = gpg.colons(['--list-keys']).filter((row) => row[0] === 'uid').map((row) => row[9]);
      assert.deepEqual(uids.sort(), [esc('https://pub-b.example.org'), esc('ssh://pub-a.example.org')]);
      assert.ok(gpg.ok(['--export-ssh-key', 'ssh://pub-a.example.org']).stdout.startsWith(scratch.pubLine(a)));
    } finally {
      gpg.cleanup();
    }
  });

  test('aliases and KEYID: after add-servicename, publish sends the new user ID', async () => {
    const [fpr] = h.fingerprints();
    h.now += 10;
    await h.ok(['n+', 'ssh://pub-c.example.org', fpr]);
    for (const alias of ['p', 'publish', 'publish-key']) await h.ok([alias, fpr.slice(-16)]);
    await h.ok(['publish-keys', '--all']);
    const got = await client().getByFingerprint(fpr);
    assert.ok(got.certs[0].users.some((u) => u.text === 'ssh://pub-c.example.org'));
  });

  test('PROMPT=true asks per key (Y/n); "n" publishes nothing', async () => {
    const h2 = new HostEnv({ MONKEYSPHERE_KEYSERVER: sks.url, MONKEYSPHERE_PROMPT: 'true' });
    try {
      await h2.ok(['import-key', scratch.sshKeygen('ecdsa256'), 'ssh://ask.example.org']);
      const [fpr] = h2.fingerprints();
      const no = await h2.ok(['publish-keys'], { stdin: 'n\n' });
      assert.match(no.stderr, new RegExp(`Really publish key '${fpr}' to ${sks.url.replace(/[.:/]/g, '\\$&')}\\? \\(Y/n\\)`));
      assert.match(no.stderr, /key not published/);
      await assert.rejects(client().getByFingerprint(fpr), /has no key/);
      await h2.ok(['publish-keys'], { stdin: '\n' });
      assert.equal((await client().getByFingerprint(fpr)).certs.length, 1);
    } finally {
      h2.cleanup();
    }
  });

  test('add-revoker by key ID and by fingerprint fetches the revoker from the keyserver', async () => {
    const admin = new GpgHome(T0 - 100);
    const h3 = new HostEnv({ MONKEYSPHERE_KEYSERVER: sks.url, MONKEYSPHERE_PROMPT: 'true' });
    try {
      admin.ok(['--quick-gen-key', 'Admin <admin@example.org>', 'ed25519', 'sign,cert', 'never']);
      admin.ok(['--quick-gen-key', 'Other <other@example.org>', 'ed25519', 'sign,cert', 'never']);
      const [adminFpr, otherFpr] = admin.colons(['--list-keys']).filter((r) => r[0] === 'fpr').map((r) => r[9]);
      admin.ok(['--keyserver', sks.url, '--send-keys', adminFpr, otherFpr]);
      await h3.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://revoked-by-admin.example.org']);
      const [fpr] = h3.fingerprints();
      h3.now += 1;
      const declined = await h3.run(['add-revoker', adminFpr.slice(-16)], { stdin: 'n\n' });
      assert.equal(declined.code, 1);
      assert.match(declined.text, /uid {3}Admin <admin@example\.org>/);
      assert.match(declined.stderr, /revoker not added/);
      await h3.ok(['add-revoker', adminFpr.slice(-16)], { stdin: 'y\n' });
      h3.now += 1;
      await h3.ok(['r+', `0x${otherFpr}`, fpr], { stdin: '\n' });
      const gpg = h3.gpgWithPubFile();
      try {
        assert.deepEqual(
          colons(gpg, fpr)
            .filter((r) => r[0] === 'rvk')
            .map((r) => r[9])
            .sort(),
          [adminFpr, otherFpr].sort(),
        );
      } finally {
        gpg.cleanup();
      }
      const missing = await h3.run(['r+', 'DEADBEEFDEADBEEF']);
      assert.equal(missing.code, 3);
      assert.match(missing.stderr, /has no key 0xDEADBEEFDEADBEEF/);
      const short = await h3.run(['r+', 'DEADBEEF']);
      assert.equal(short.code, 2);
      assert.match(short.stderr, /neither a file nor a key ID/);
    } finally {
      admin.cleanup();
      h3.cleanup();
    }
  });

  test('revoke-key, interactive, publishes the revocation', async () => {
    const h4 = new HostEnv({ MONKEYSPHERE_KEYSERVER: sks.url, MONKEYSPHERE_PROMPT: 'true' });
    try {
      await h4.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://gone.example.org']);
      const [fpr] = h4.fingerprints();
      await h4.ok(['publish-keys'], { stdin: 'y\n' });
      h4.now += 100;
      const r = await h4.ok(['revoke-key'], { stdin: 'y\n1\n\ny\n' });
      assert.match(r.text, /BEGIN PGP PUBLIC KEY BLOCK/);
      const gpg = new GpgHome(T0 + 1000);
      try {
        gpg.ok(['--keyserver', sks.url, '--recv-keys', fpr]);
        assert.equal(colons(gpg, fpr).find((row) => row[0] === 'pub')![1], 'r');
      } finally {
        gpg.cleanup();
      }
    } finally {
      h4.cleanup();
    }
  });

  test('run as root, keyserver access happens as MONKEYSPHERE_USER (nobody), errors included', async (t) => {
    const h5 = new HostEnv({ MONKEYSPHERE_KEYSERVER: sks.url, MONKEYSPHERE_MONKEYSPHERE_USER: 'nobody', MONKEYSPHERE_LOG_LEVEL: 'debug' });
    t.after(() => h5.cleanup());
    await h5.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://unpriv.example.org']);
    const [fpr] = h5.fingerprints();
    const r = await h5.ok(['publish-keys']);
    assert.match(r.stderr, /^ms: keyserver access as nobody \(uid 65534\)$/m);
    assert.equal((await client().getByFingerprint(fpr)).certs[0].primary.fpr, fpr);
    const d = await h5.run(['diagnostics'], { env: { MONKEYSPHERE_CHECK_KEYSERVER: 'true' } });
    assert.doesNotMatch(d.text, /not published/);
    const missing = await h5.run(['r+', 'DEADBEEFDEADBEEF']);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /has no key 0xDEADBEEFDEADBEEF/);
    const noUser = await h5.run(['publish-keys'], { env: { MONKEYSPHERE_MONKEYSPHERE_USER: 'no-such-user-here' } });
    assert.equal(noUser.code, 4);
    assert.match(noUser.stderr, /MONKEYSPHERE_USER "no-such-user-here" does not exist/);
  });

  test('an unreachable keyserver: a clear temporary error', async () => {
    const port = await freePort();
    const r = await h.run(['publish-keys', h.fingerprints()[0]], { env: { MONKEYSPHERE_KEYSERVER: `hkp://127.0.0.1:${port}` } });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /^monkeysphere-host: error: .*127\.0\.0\.1/m);
  });
});
