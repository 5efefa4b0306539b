/**
 * `monkeysphere-authentication explain USER [USER-ID]`: for each user ID the account
 * lists, the certificates carrying it, the engine's verdict with the certifier path or
 * the reason, and each key with whether sshd is given it and why not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthServer } from './harness.js';
import { NOW, Person } from './pki.js';

const BOB = 'Bob <bob@example.net>';
const CAROL = 'Carol <carol@example.net>';
const DAVE = 'Dave <dave@example.net>';
const ZED = 'Zed <zed@example.net>';

describe('explain', () => {
  const server = new AuthServer();
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const carol = new Person([CAROL]);
  const dave = new Person([DAVE], { alg: 'rsa' }).certifiedBy(admin);
  let out = '';

  before(async () => {
    await server.ok(['setup']);
    await server.addCertifier(admin);
    for (const p of [bob, carol, dave]) await server.importCert(p);
    dave.revokeSubkey(NOW - 86400);
    await server.importCert(dave);
    server.writeUserIds(`${BOB}\n${CAROL}\n${DAVE}\n${ZED}\n`);
    out = (await server.ok(['explain', 'root'])).stdout;
  });
  after(() => {
    server.cleanup();
    for (const p of [admin, bob, carol, dave]) p.cleanup();
  });

  const section = (uid: string) => {
    const start = out.indexOf(`user ID "${uid}"`);
    assert.ok(start >= 0, `no section for ${uid} in:\n${out}`);
    const next = out.indexOf('\nuser ID "', start + 1);
    return out.slice(start, next < 0 ? undefined : next);
  };

  test('a valid user ID: the path through the certifier, and the key sshd is given', () => {
    const s = section(BOB);
    assert.match(s, new RegExp(`\\[✓\\] ${bob.fpr} "Bob <bob@example\\.net>": fully valid \\(f\\)`));
    assert.match(s, new RegExp(`├ ${admin.fpr} "Admin <admin@example\\.net>" \\(full introducer by trust signature`));
    assert.match(s, new RegExp(`accepted: subkey ${bob.authPacket.fpr} \\(SHA256:`));
    assert.match(s, new RegExp(`not given to sshd: primary key ${bob.fpr} .*: the primary key is not marked for authentication`));
  });

  test('an uncertified user ID: why not, and the key refused', () => {
    const s = section(CAROL);
    assert.match(s, /\[ \] [0-9A-F]{40} "Carol <carol@example\.net>": not valid/);
    assert.match(s, /no path: the user ID carries no certifications/);
    assert.match(s, /not given to sshd: subkey [0-9A-F]{40} .*: the user ID is not fully valid/);
  });

  test('a revoked authentication subkey (RSA) is named as the reason', () => {
    const s = section(DAVE);
    assert.match(s, /fully valid \(f\)/);
    assert.match(s, new RegExp(`not given to sshd: subkey ${dave.authPacket.fpr} .*: the subkey is revoked`));
  });

  test('a user ID no certificate carries', () => {
    assert.match(section(ZED), /no certificate in the store carries this user ID exactly, so it grants no key/);
  });

  test('one user ID, even one the account does not list', async () => {
    const r = await server.ok(['explain', 'root', 'Admin <admin@example.net>']);
    assert.match(r.stdout, /^user ID "Admin <admin@example\.net>" \(not listed in the account's authorized_user_ids\):/);
    assert.doesNotMatch(r.stdout, /Bob/);
  });

  test('keys-for-user at VERBOSE says why, user ID by user ID, as the original did', async () => {
    server.env.MONKEYSPHERE_LOG_LEVEL = 'VERBOSE';
    try {
      const r = await server.ok(['keys-for-user', 'root']);
      assert.match(r.stderr, /ms: processing: "Bob <bob@example\.net>"\nms: {3}certificate [0-9A-F]{40}: fully valid, certified through [0-9A-F]{40} "Admin <admin@example\.net>"/);
      assert.match(r.stderr, /ms: processing: "Carol <carol@example\.net>"\nms: {3}certificate [0-9A-F]{40}: not valid: no path: the user ID carries no certifications/);
      assert.match(r.stderr, /ms: processing: "Zed <zed@example\.net>"\nms: {3}no certificate in the store carries this user ID/);
      assert.ok(r.stdout.includes(bob.sshKey));
    } finally {
      delete server.env.MONKEYSPHERE_LOG_LEVEL;
    }
  });

  test('an unknown account is an error', async () => {
    const r = await server.run(['explain', 'no-such-user-here']);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /unknown user "no-such-user-here"/);
  });
});

describe('update-users logs each key added or removed, and why', () => {
  test('added through the certifier; removed when revoked; removed when no longer listed', async () => {
    const server = new AuthServer();
    const admin = new Person(['Admin <admin@example.net>']);
    const bob = new Person([BOB]).certifiedBy(admin);
    const erin = new Person(['Erin <erin@example.net>'], { alg: 'rsa' }).certifiedBy(admin);
    try {
      await server.ok(['setup']);
      await server.addCertifier(admin);
      await server.importCert(bob);
      await server.importCert(erin);
      server.writeUserIds(`${BOB}\nErin <erin@example.net>\n`);
      const first = await server.ok(['update-users', 'root']);
      assert.match(first.stderr, new RegExp(`root: added ssh-ed25519 SHA256:\\S+ for "Bob <bob@example\\.net>": certificate ${bob.fpr}: fully valid, certified through ${admin.fpr} "Admin <admin@example\\.net>"`));
      assert.match(first.stderr, /root: added ssh-rsa SHA256:\S+ for "Erin <erin@example\.net>"/);

      const again = await server.ok(['update-users', 'root']);
      assert.doesNotMatch(again.stderr, /root: (added|removed)/, 'nothing changed, nothing logged');

      bob.revokeKey(NOW - 3600);
      await server.importCert(bob);
      server.writeUserIds(`${BOB}\n`);
      const later = await server.ok(['update-users', 'root']);
      assert.match(later.stderr, new RegExp(`root: removed ssh-ed25519 SHA256:\\S+ for "Bob <bob@example\\.net>": certificate ${bob.fpr}: revoked: the key is revoked`));
      assert.match(later.stderr, /root: removed ssh-rsa SHA256:\S+ for "Erin <erin@example\.net>": the account no longer lists this user ID/);
    } finally {
      server.cleanup();
      for (const p of [admin, bob, erin]) p.cleanup();
    }
  });
});
