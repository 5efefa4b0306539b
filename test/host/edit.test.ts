/**
 * The subcommands that change a host key, checked with gpg: add-servicename,
 * revoke-servicename, set-expire, add-revoker (file and stdin), revoke-key.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { oldFormat, privateKeyFromPacket, publicKeyPacket } from '../../src/keytrans/index.js';
import { dearmor } from '../../src/openpgp/armor.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { SigType } from '../../src/openpgp/signature.js';
import { GpgHome } from '../helpers/gpg.js';
import { Scratch } from '../ssh/tools.js';
import { colons, esc, HostEnv, T0 } from './harness.js';

const scratch = new Scratch();
after(() => scratch.cleanup());

describe('service names', () => {
  const h = new HostEnv();
  after(() => h.cleanup());
  let fpr = '';
  before(async () => {
    await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://host.example.org']);
    fpr = h.fingerprints()[0];
  });

  test('add-servicename: the new user ID is self-signed and gpg lists it (every alias)', async () => {
    const names = ['ssh://host2.example.org', 'ssh://host3.example.org:2222', 'https://host4.example.org', 'ssh://host5.example.org.'];
    for (const [i, alias] of ['add-servicename', 'n+', 'add-name', 'add-hostname'].entries()) {
      h.now = T0 + 100 + i;
      const r = await h.ok([alias, names[i]]);
      assert.match(r.text, /NOTE: Service name added to key, but key must be re-published to public keyserver\./);
    }
    const gpg = h.gpgWithPubFile();
    try {
      const uids = colons(gpg, fpr)
        .filter((r) => r[0] === 'uid')
        .map((r) => r[9])
        .sort();
      assert.deepEqual(uids, ['ssh://host.example.org', ...names].map(esc).sort());
      const sigs = gpg.ok(['--check-sigs', fpr]).stdout;
      for (const n of names) assert.match(sigs, new RegExp(`${n.replace(/[.:/]/g, '\\$&')}\\nsig!3 `));
    } finally {
      gpg.cleanup();
    }
  });

  test('add-servicename refuses a name the key already has, and leaves files alone', async () => {
    const before = h.snapshot();
    const r = await h.run(['n+', 'ssh://host2.example.org']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Service name 'ssh:\/\/host2\.example\.org' already exists on key/);
    assert.deepEqual(h.snapshot(), before);
  });

  test('revoke-servicename: gpg shows the user ID revoked (every alias)', async () => {
    for (const [i, [alias, name]] of [
      ['revoke-servicename', 'ssh://host2.example.org'],
      ['n-', 'ssh://host3.example.org:2222'],
      ['revoke-name', 'https://host4.example.org'],
      ['revoke-hostname', 'ssh://host5.example.org.'],
    ].entries()) {
      h.now = T0 + 200 + i;
      const r = await h.ok([alias, name]);
      assert.match(r.text, /NOTE: Service name revoked/);
      assert.match(r.text, new RegExp(`\\[ revoked\\] ${name.replace(/[.:/]/g, '\\$&')}$`, 'm'));
    }
    const gpg = h.gpgWithPubFile();
    try {
      const rows = colons(gpg, fpr, '--list-sigs');
      const state = Object.fromEntries(rows.filter((r) => r[0] === 'uid').map((r) => [r[9], r[1]]));
      assert.equal(state[esc('ssh://host2.example.org')], 'r');
      assert.equal(state[esc('ssh://host5.example.org.')], 'r');
      assert.notEqual(state[esc('ssh://host.example.org')], 'r');
      assert.ok(rows.some((r) => r[0] === 'rev' && r[10] === '30x,20'));
    } finally {
      gpg.cleanup();
    }
    // Revoking it again finds nothing to revoke; a revoked name can be added back.
    const again = await h.run(['n-', 'ssh://host2.example.org']);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /No non-revoked service name found matching 'ssh:\/\/host2\.example\.org'\./);
    h.now = T0 + 300;
    await h.ok(['n+', 'ssh://host2.example.org']);
    const gpg2 = h.gpgWithPubFile();
    try {
      const uid = colons(gpg2, fpr).find((r) => r[0] === 'uid' && r[9] === esc('ssh://host2.example.org'))!;
      assert.notEqual(uid[1], 'r');
    } finally {
      gpg2.cleanup();
    }
  });
});

describe('set-expire', () => {
  const h = new HostEnv();
  after(() => h.cleanup());

  test('set-expire 1 gives an expiry gpg reports; 2w, then 0 removes it (every alias)', async () => {
    await h.ok(['import-key', scratch.sshKeygen('rsa'), 'ssh://exp.example.org']);
    const [fpr] = h.fingerprints();
    await h.ok(['n+', 'ssh://exp2.example.org']);
    h.now = T0 + 1000;
    const r = await h.ok(['set-expire', '1']);
    assert.match(r.text, /\[expires: 2023-01-16\]/);
    const check = (expected: string) => {
      const gpg = h.gpgWithPubFile();
      try {
        assert.equal(colons(gpg, fpr).find((row) => row[0] === 'pub')![6], expected);
      } finally {
        gpg.cleanup();
      }
    };
    check(String(T0 + 1000 + 86400));
    h.now = T0 + 2000;
    await h.ok(['e', '2w', fpr.slice(-8)]);
    check(String(T0 + 2000 + 14 * 86400));
    h.now = T0 + 3000;
    await h.ok(['extend-key', '1y']);
    check(String(T0 + 3000 + 365 * 86400));
    h.now = T0 + 4000;
    await h.ok(['extend', '0']);
    check('');
  });

  test('an expired key: gpg and show-keys say so', async () => {
    const h2 = new HostEnv();
    try {
      await h2.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://old.example.org']);
      await h2.ok(['set-expire', '1']);
      h2.now = T0 + 3 * 86400;
      assert.match((await h2.ok(['show-keys'])).text, /\[expired: 2023-01-16\]/);
    } finally {
      h2.cleanup();
    }
  });

  test('bad EXPIRE values are refused', async () => {
    for (const bad of ['1d', '-1', 'soon', '1.5']) {
      const r = await h.run(['set-expire', bad]);
      assert.equal(r.code, 2, bad);
      assert.match(r.stderr, /Invalid expiration/);
    }
    const none = await h.run(['set-expire']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Must specify expiration/);
  });
});

describe('add-revoker and revoke-key', () => {
  const h = new HostEnv();
  const admin = new GpgHome(T0 - 100);
  after(() => {
    h.cleanup();
    admin.cleanup();
  });
  let fpr = '';
  let adminFpr = '';
  let admin2Fpr = '';
  before(async () => {
    await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://rev.example.org']);
    fpr = h.fingerprints()[0];
    admin.ok(['--quick-gen-key', 'Admin <admin@example.org>', 'ed25519', 'sign,cert', 'never']);
    admin.ok(['--quick-gen-key', 'Admin Two <admin2@example.org>', 'rsa2048', 'sign,cert', 'never']);
    const fprs = admin.colons(['--list-keys']).filter((r) => r[0] === 'fpr').map((r) => r[9]);
    [adminFpr, admin2Fpr] = fprs;
  });

  test('add-revoker from a file and from stdin: gpg lists the designated revokers (rvk)', async () => {
    const file = scratch.path('admin.asc');
    writeFileSync(file, admin.ok(['--armor', '--export', adminFpr]).stdoutBytes);
    h.now = T0 + 50;
    const r = await h.ok(['add-revoker', file]);
    assert.match(r.text, new RegExp(`^revoker: ${adminFpr}$`, 'm'));
    assert.match(r.text, /NOTE: Revoker added/);
    h.now = T0 + 51;
    await h.ok(['r+', '-', fpr], { stdin: admin.ok(['--export', admin2Fpr]).stdoutBytes });
    const gpg = h.gpgWithPubFile();
    try {
      const rvk = colons(gpg, fpr)
        .filter((row) => row[0] === 'rvk')
        .map((row) => row[9])
        .sort();
      assert.deepEqual(rvk, [adminFpr, admin2Fpr].sort());
    } finally {
      gpg.cleanup();
    }
    // The same revoker twice is refused; so is a file with two keys.
    const twice = await h.run(['r+', file]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /already a revoker/);
    const both = await h.run(['r+', '-'], { stdin: admin.ok(['--export']).stdoutBytes });
    assert.equal(both.code, 3);
    assert.match(both.stderr, /must contain exactly one key \(found 2\)/);
  });

  test('a designated revoker can revoke the host key, and gpg honours it', async () => {
    // gpg's --desig-revoke refuses batch mode, so the admin's revocation is made here with the admin's gpg key.
    const adminCert = readCerts(admin.ok(['--export-secret-keys', adminFpr]).stdoutBytes).certs[0];
    const hostCert = readCerts(dearmor(readFileSync(h.pubFile))).certs[0];
    const sig = signV4(
      { kind: 'key', primary: hostCert.primary },
      {
        type: SigType.KeyRevocation,
        signer: adminCert.primary,
        privateKey: privateKeyFromPacket(adminCert.primary),
        hashed: [sp.issuerFingerprint(adminCert.primary), sp.created(T0 + 400), sp.reason(2, 'host compromised')],
      },
    );
    const gpg = h.gpgWithPubFile(T0 + 600);
    try {
      gpg.ok(['--import'], admin.ok(['--export', adminFpr]).stdoutBytes);
      gpg.ok(['--import'], Buffer.concat([publicKeyPacket(hostCert.primary), oldFormat(sig.packet)]));
      assert.equal(colons(gpg, fpr).find((row) => row[0] === 'pub')![1], 'r');
    } finally {
      gpg.cleanup();
    }
  });

  test('revoke-key prints a revocation certificate that revokes the key in gpg', async () => {
    h.now = T0 + 700;
    const before = h.snapshot();
    const r = await h.ok(['revoke-key']);
    assert.match(r.text, /^-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: This is a revocation certificate\n/);
    assert.deepEqual(h.snapshot(), before, 'revoke-key changes nothing on disk');
    const gpg = h.gpgWithPubFile();
    try {
      const listing = gpg.ok(['--list-packets'], r.stdout).stdout;
      assert.match(listing, /sigclass 0x20/);
      // gpg prints the ')' in the text as \x29.
      assert.match(listing, /revocation reason 0x02 \(Monkeysphere host key revocation \(automated\\x29 2023-01-15_00:11:40\+0000\)/);
      gpg.ok(['--import'], r.stdout);
      assert.equal(colons(gpg, fpr).find((row) => row[0] === 'pub')![1], 'r');
    } finally {
      gpg.cleanup();
    }
  });

  test('revoke-key, interactive: reason and description asked; Q cancels', async () => {
    const h2 = new HostEnv({ MONKEYSPHERE_PROMPT: 'true' });
    try {
      await h2.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://ask.example.org']);
      const r = await h2.ok(['revoke-key'], { stdin: 'n\n3\nmoved to new hardware\n\n' });
      assert.match(r.stderr, /Publishing this certificate will IMMEDIATELY and PERMANENTLY revoke/);
      const gpg = new GpgHome(T0 + 60);
      try {
        assert.match(gpg.ok(['--list-packets'], r.stdout).stdout, /revocation reason 0x03 \(moved to new hardware\)/);
      } finally {
        gpg.cleanup();
      }
      const cancel = await h2.run(['revoke-key'], { stdin: 'q\n' });
      assert.equal(cancel.code, 1);
      assert.equal(cancel.stdout.length, 0);
      assert.match(cancel.stderr, /aborting at user request/);
    } finally {
      h2.cleanup();
    }
  });
});
