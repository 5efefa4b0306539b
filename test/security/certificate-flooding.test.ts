/**
 * Certificate flooding (CVE-2019-13050; issue 9, finding 9): a certificate carrying tens
 * of thousands of junk certifications by issuers nobody knows, served by a keyserver under a
 * listed user ID or handed to `gpg-cmd --import`. The store keeps at most the budget of
 * such certifications (src/auth/ingest.ts), never the flood; a certifier's certification
 * among the junk is kept and the binding stays valid; a flood stored before the policy is
 * cut down the next time the certificate comes in. Time and memory are measured in
 * bench/auth-flood.bench.ts, never asserted here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UNKNOWN_ISSUER_BUDGET } from '../../src/auth/ingest.js';
import { AuthStore } from '../../src/auth/store.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { AuthServer, ensureBuilt } from '../auth/harness.js';
import { CREATED, NOW, Person } from '../auth/pki.js';
import { flooded, HkpStandIn, junkCertifications, withSignatures } from './flood.js';

const BOB = 'Bob <bob@example.net>';
const MARKER = 'MonkeySphere2023-01-15T00:00:00';
const JUNK = 20_000;

before(() => ensureBuilt());

/** What the store holds for `fpr`: signatures on each user ID, and in all. */
async function stored(server: AuthServer, fpr: string): Promise<{ perUser: Map<string, number>; total: number; bytes: number }> {
  const store = await AuthStore.open(join(server.dataDir, 'authentication', 'store.sqlite'));
  try {
    const row = await store.certs.get(fpr);
    assert.ok(row, `certificate ${fpr} is stored`);
    const cert = readCerts(row.bytes).certs[0];
    const perUser = new Map(cert.users.map((u) => [u.text, u.signatures.length]));
    const total = cert.directSigs.length + cert.users.reduce((n, u) => n + u.signatures.length, 0) + cert.subkeys.reduce((n, s) => n + s.signatures.length, 0);
    return { perUser, total, bytes: row.bytes.length };
  } finally {
    await store.close();
  }
}

describe('a flooded certificate', () => {
  let keyserver: HkpStandIn;
  const admin = new Person(['Admin <admin@example.net>']);
  // Bob's self-signature and the certifier's certification come first; the junk is newer than both.
  const bob = new Person([BOB]).certifiedBy(admin);
  const floodedBob = flooded(bob.cert, BOB, JUNK, NOW - 60);

  before(async () => {
    keyserver = await HkpStandIn.start();
  });
  after(async () => {
    await keyserver.stop();
    admin.cleanup();
    bob.cleanup();
  });

  async function server(extra: Record<string, string> = {}): Promise<AuthServer> {
    const s = new AuthServer({ MONKEYSPHERE_KEYSERVER: keyserver.url, ...extra });
    await s.ok(['setup']);
    await s.addCertifier(admin);
    s.writeUserIds(`${BOB}\n`);
    return s;
  }

  test('served by a keyserver to update-users: the store keeps the budget, the certifier\'s certification, and access', async () => {
    keyserver.serve([floodedBob]);
    const s = await server({ MONKEYSPHERE_CHECK_KEYSERVER: 'true', MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' });
    try {
      const r = await s.run(['update-users', 'root']);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(keyserver.requests.some((q) => q.startsWith('get ')), 'the certificate came from the keyserver');
      assert.equal(readFileSync(s.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
      // Self-signature + certifier's certification + at most the budget.
      const held = await stored(s, bob.fpr);
      assert.equal(held.perUser.get(BOB), 2 + UNKNOWN_ISSUER_BUDGET);
      assert.ok(held.bytes < 64 * 1024, `stored ${held.bytes} bytes`);
      assert.match(r.stderr, new RegExp(`^ms: keyserver: key ${bob.fpr} for "${BOB}": dropped ${JUNK - UNKNOWN_ISSUER_BUDGET} certifications by unknown issuers$`, 'm'));
      // Every run fetches the flood again; the store does not grow.
      const again = await s.run(['update-users', 'root']);
      assert.equal(again.status, 0, again.stderr);
      assert.equal((await stored(s, bob.fpr)).perUser.get(BOB), 2 + UNKNOWN_ISSUER_BUDGET);
      // At the default level (INFO) a routine update-users says nothing about it.
      s.env.MONKEYSPHERE_LOG_LEVEL = 'INFO';
      assert.equal((await s.ok(['update-users', 'root'])).stderr, '');
    } finally {
      s.cleanup();
    }
  });

  test('gpg-cmd --import: the same budget; the import report says what was dropped', async () => {
    const s = await server();
    try {
      const r = await s.run(['gpg-cmd', '--import'], floodedBob);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^ms: key ${bob.fpr}: dropped ${JUNK - UNKNOWN_ISSUER_BUDGET} certifications by unknown issuers$`, 'm'));
      assert.equal((await stored(s, bob.fpr)).perUser.get(BOB), 2 + UNKNOWN_ISSUER_BUDGET);
      await s.ok(['update-users', 'root']);
      assert.equal(readFileSync(s.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
      const listed = (await s.ok(['gpg-cmd', '--list-keys', '--with-colons', bob.fpr])).stdout;
      assert.match(listed, /^uid:f:/m);
    } finally {
      s.cleanup();
    }
  });

  test('the budget keeps the newest junk, whatever order it comes in; a second flood replaces, never adds', async () => {
    const s = await server();
    try {
      const first = junkCertifications(1000, NOW - 5000);
      await s.ok(['gpg-cmd', '--import'], withSignatures(bob.cert, BOB, [...first].reverse()));
      const newest = new Set(first.slice(0, UNKNOWN_ISSUER_BUDGET).map((b) => b.toString('hex')));
      const keptNow = async () => {
        const store = await AuthStore.open(join(s.dataDir, 'authentication', 'store.sqlite'));
        try {
          const row = (await store.certs.get(bob.fpr))!;
          const user = readCerts(row.bytes).certs[0].users[0];
          return user.signatures.map((e) => e.packet.raw.toString('hex'));
        } finally {
          await store.close();
        }
      };
      const afterFirst = await keptNow();
      assert.equal(afterFirst.length, 2 + UNKNOWN_ISSUER_BUDGET);
      assert.deepEqual(afterFirst.filter((h) => newest.has(h)).length, UNKNOWN_ISSUER_BUDGET);
      // A newer flood: the store keeps the newest of both, still within the budget.
      const second = junkCertifications(1000, NOW - 10);
      await s.ok(['gpg-cmd', '--import'], withSignatures(bob.cert, BOB, second));
      const afterSecond = await keptNow();
      assert.equal(afterSecond.length, 2 + UNKNOWN_ISSUER_BUDGET);
      const newer = new Set(second.slice(0, UNKNOWN_ISSUER_BUDGET).map((b) => b.toString('hex')));
      assert.equal(afterSecond.filter((h) => newer.has(h)).length, UNKNOWN_ISSUER_BUDGET);
      // And still valid.
      await s.ok(['update-users', 'root']);
      assert.equal(readFileSync(s.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
    } finally {
      s.cleanup();
    }
  });

  test('a flood stored before the policy is cut down when the certificate comes in again', async () => {
    const s = await server({ MONKEYSPHERE_CHECK_KEYSERVER: 'true' });
    try {
      // The store as the earlier code left it: the whole flood, stored as it came.
      const store = await AuthStore.open(join(s.dataDir, 'authentication', 'store.sqlite'));
      try {
        await store.putCerts(readCerts(floodedBob).certs, NOW);
      } finally {
        await store.close();
      }
      assert.equal((await stored(s, bob.fpr)).perUser.get(BOB), 2 + JUNK);
      // The keyserver now serves the plain certificate; merging it applies the budget to what is stored.
      keyserver.serve([bob.bytes]);
      const r = await s.run(['update-users', 'root']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((await stored(s, bob.fpr)).perUser.get(BOB), 2 + UNKNOWN_ISSUER_BUDGET);
      assert.equal(readFileSync(s.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
    } finally {
      s.cleanup();
    }
  });

  test('a stored flood of 150,000 on one user ID is cut down before anything is merged with it', async () => {
    const s = await server();
    try {
      const store = await AuthStore.open(join(s.dataDir, 'authentication', 'store.sqlite'));
      try {
        await store.putCerts(readCerts(flooded(bob.cert, BOB, 150_000, NOW - 60)).certs, NOW);
      } finally {
        await store.close();
      }
      // Something new on the certificate, so the store has to merge it with what it holds.
      const r = await s.run(['gpg-cmd', '--import'], flooded(bob.cert, BOB, 1, NOW));
      assert.equal(r.status, 0, r.stderr);
      assert.equal((await stored(s, bob.fpr)).perUser.get(BOB), 2 + UNKNOWN_ISSUER_BUDGET);
      await s.ok(['update-users', 'root']);
      assert.equal(readFileSync(s.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
    } finally {
      s.cleanup();
    }
  });

  test('add-id-certifier of a flooded key: the certifier is added, the store keeps the budget', async () => {
    const s = new AuthServer({ MONKEYSPHERE_KEYSERVER: keyserver.url });
    try {
      await s.ok(['setup']);
      const added = await s.run(['add-id-certifier', '-'], flooded(admin.cert, 'Admin <admin@example.net>', JUNK, NOW - 60));
      assert.equal(added.status, 0, added.stderr);
      assert.equal((await s.ok(['list-id-certifiers'])).stdout, `${admin.fpr}:\n :Admin <admin@example.net>:1:120:\n`);
      // Self-signature, the core's local trust signature, the budget.
      assert.equal((await stored(s, admin.fpr)).perUser.get('Admin <admin@example.net>'), 2 + UNKNOWN_ISSUER_BUDGET);
      s.writeUserIds(`${BOB}\n`);
      await s.importCert(bob);
      await s.ok(['update-users', 'root']);
      assert.equal(readFileSync(s.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
    } finally {
      s.cleanup();
    }
  });

  test('junk claiming to be by the certifier, or by Bob himself, is verified and dropped, never counted against the budget', async () => {
    const s = await server();
    try {
      // Forgeries: a certifier's or Bob's issuer fingerprint on random signature values.
      const forge = (issuerFpr: string, count: number) =>
        junkCertifications(count, NOW - 100).map((raw) => {
          const b = Buffer.from(raw);
          // Where junkCertifications puts the issuer fingerprint: packet header (2), version, type,
          // algorithms (4), hashed length (2), creation time subpacket (6), then the fingerprint
          // subpacket's length, type and key version (3).
          Buffer.from(issuerFpr, 'hex').copy(b, 2 + 4 + 2 + 6 + 3);
          return b;
        });
      const forged = [...forge(admin.fpr, 500), ...forge(bob.fpr, 500)];
      const r = await s.run(['gpg-cmd', '--import'], withSignatures(bob.cert, BOB, forged));
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^ms: key ${bob.fpr}: dropped 1000 bad signatures$`, 'm'));
      assert.equal((await stored(s, bob.fpr)).perUser.get(BOB), 2);
      await s.ok(['update-users', 'root']);
      assert.equal(readFileSync(s.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
    } finally {
      s.cleanup();
    }
  });

  test('a certification by a key the server does not know yet comes back with the next import, once its issuer is a certifier', async () => {
    const carol = new Person(['Carol <carol@example.net>']);
    const late = new Person(['Late Certifier <late@example.net>']);
    try {
      carol.certifiedBy(late, 'Carol <carol@example.net>', CREATED + 86400);
      const floodedCarol = flooded(carol.cert, 'Carol <carol@example.net>', 2000, NOW - 60);
      const s = await server();
      try {
        s.writeUserIds('Carol <carol@example.net>\n');
        await s.ok(['gpg-cmd', '--import'], floodedCarol);
        // The late certifier is unknown: its (older) certification lost to newer junk.
        assert.equal((await stored(s, carol.fpr)).perUser.get('Carol <carol@example.net>'), 1 + UNKNOWN_ISSUER_BUDGET);
        await s.addCertifier(late);
        await s.ok(['update-users', 'root']);
        assert.throws(() => readFileSync(s.authorizedKeysFile), { code: 'ENOENT' });
        await s.ok(['gpg-cmd', '--import'], floodedCarol);
        assert.equal((await stored(s, carol.fpr)).perUser.get('Carol <carol@example.net>'), 2 + UNKNOWN_ISSUER_BUDGET);
        await s.ok(['update-users', 'root']);
        assert.equal(readFileSync(s.authorizedKeysFile, 'utf8'), `${carol.sshKey} ${MARKER} Carol <carol@example.net>\n`);
      } finally {
        s.cleanup();
      }
    } finally {
      carol.cleanup();
      late.cleanup();
    }
  });
});
