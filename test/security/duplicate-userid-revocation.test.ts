/**
 * Finding 3 of the security review, user IDs: Bob's first stored copy carries his user ID
 * twice. When the certifier's 0x30 revocation of its certification arrives later (from a
 * keyserver: the store's put), a merge that matches the user ID to its *last* duplicate
 * puts the revocation there, while validity reads the *first* copy, still certified: Bob
 * keeps access. gpg's import collapses duplicate user IDs, so gpg says the certification
 * is revoked. A certificate is canonical on every path in (store, keyring, evaluation) and
 * merging collapses duplicates of both inputs; real gpg 2.2, fed the same copies in the
 * same order, is the oracle.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { AuthStore } from '../../src/auth/store.js';
import { evaluateCerts } from '../../src/cert/evaluate.js';
import { Keyring } from '../../src/keyring/keyring.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { Verifier } from '../../src/verify/verifier.js';
import { computeKeyringTrust } from '../../src/wot/build.js';
import { type AuthServer, ensureBuilt } from '../auth/harness.js';
import { NOW, Person } from '../auth/pki.js';
import { certificationRevocation, certifiedServer, DAY, gpgVerdict, ours, partsOf, putCopies, storePath } from './duplicates.js';

const BOB = 'Bob <bob@example.net>';

before(() => ensureBuilt());

interface Scene {
  server: AuthServer;
  admin: Person;
  bob: Person;
  /** Bob's certificate as published, the certifier's certification on it. */
  plain: Buffer;
  /** A copy with the user ID twice: certified first, then again with only its self-signature. */
  duplicated: Buffer;
  /** The keyserver's copy after the certifier revoked its certification (canonical). */
  revoked: Buffer;
  /** The revocation packet alone. */
  revocation: Buffer;
  /** A copy carrying the user ID twice, the revocation on the second. */
  revokedOnDuplicate: Buffer;
  /** The same, the second user ID carrying the revocation alone (no self-signature of its own). */
  revokedOnBareDuplicate: Buffer;
}

/** A server where Admin is the identity certifier and has certified Bob. */
async function scene(t: { after: (fn: () => void) => void }): Promise<Scene> {
  const { server, admin, bob } = await certifiedServer(t, BOB);
  const p = partsOf(bob);
  const [uid, selfSig] = p.user(BOB);
  const revocation = certificationRevocation(admin, bob, BOB, NOW - DAY);
  return {
    server,
    admin,
    bob,
    revocation,
    plain: Buffer.concat([p.primary, ...p.user(BOB), ...p.subkey]),
    duplicated: Buffer.concat([p.primary, ...p.user(BOB), uid, selfSig, ...p.subkey]),
    revoked: Buffer.concat([p.primary, ...p.user(BOB), revocation, ...p.subkey]),
    revokedOnDuplicate: Buffer.concat([p.primary, ...p.user(BOB), uid, selfSig, revocation, ...p.subkey]),
    revokedOnBareDuplicate: Buffer.concat([p.primary, ...p.user(BOB), uid, revocation, ...p.subkey]),
  };
}

/** Our verdict through the authentication store equals gpg's on the same copies, and it is "not valid". */
async function assertRevokedLikeGpg(s: Scene, copies: Buffer[]): Promise<void> {
  const mine = await ours(s.server, s.bob);
  const theirs = gpgVerdict(mine.others, copies, [mine.coreFpr], s.bob);
  assert.ok(!['f', 'u'].includes(theirs.uid), `gpg still counts the revoked certification (${theirs.uid})`);
  assert.equal(mine.uid, theirs.uid, 'our validity differs from gpg 2.2');
  assert.deepEqual(mine.keys, [], 'the revoked binding still grants keys');
}

/** Whether update-users writes Bob's key (no file at all when no key is authorized). */
async function bobsAccess(s: Scene): Promise<boolean> {
  s.server.writeUserIds(`${BOB}\n`);
  await s.server.ok(['update-users', 'root']);
  return existsSync(s.server.authorizedKeysFile) && readFileSync(s.server.authorizedKeysFile, 'utf8').includes(s.bob.sshKey);
}

describe('a duplicated user ID must not hide a certifier revocation', () => {
  test('duplicate in the first stored copy, revocation later through the store put (as from a keyserver)', async (t) => {
    const s = await scene(t);
    await putCopies(s.server, [s.duplicated]);
    const before = await ours(s.server, s.bob);
    assert.equal(before.uid, gpgVerdict(before.others, [s.duplicated], [before.coreFpr], s.bob).uid);
    assert.equal(before.uid, 'f', 'the scene: Bob is valid before the revocation');
    assert.equal(await bobsAccess(s), true);

    await putCopies(s.server, [s.revoked]);
    await assertRevokedLikeGpg(s, [s.duplicated, s.revoked]);
    assert.equal(await bobsAccess(s), false, 'Bob keeps access after the revocation');
  });

  test('duplicate in the first copy imported with gpg-cmd --import, revocation later through the store put', async (t) => {
    const s = await scene(t);
    await s.server.importCert(s.duplicated);
    await putCopies(s.server, [s.revoked]);
    await assertRevokedLikeGpg(s, [s.duplicated, s.revoked]);
    assert.equal(await bobsAccess(s), false);
  });

  test('revocation stored first, the duplicated copy later', async (t) => {
    const s = await scene(t);
    await putCopies(s.server, [s.revoked]);
    await putCopies(s.server, [s.duplicated]);
    await assertRevokedLikeGpg(s, [s.revoked, s.duplicated]);
  });

  test('one copy carrying the user ID twice, the revocation on the second', async (t) => {
    const s = await scene(t);
    await putCopies(s.server, [s.revokedOnDuplicate]);
    await assertRevokedLikeGpg(s, [s.revokedOnDuplicate]);
    await putCopies(s.server, [s.plain]);
    await assertRevokedLikeGpg(s, [s.revokedOnDuplicate, s.plain]);
  });

  test('through gpg-cmd --import (the ingest path): a revocation on a bare duplicate user ID is gathered before trimming', async (t) => {
    const s = await scene(t);
    await s.server.importCert(s.plain);
    assert.equal(await bobsAccess(s), true);
    await s.server.importCert(s.revokedOnBareDuplicate);
    await assertRevokedLikeGpg(s, [s.plain, s.revokedOnBareDuplicate]);
    assert.equal(await bobsAccess(s), false);
  });

  test('a copy stored with the duplicate before canonical storage is rewritten when the revocation arrives', async (t) => {
    const s = await scene(t);
    await putCopies(s.server, [s.plain]);
    // What an earlier version stored: the duplicated copy as it came.
    const db = new Database(storePath(s.server));
    db.prepare('UPDATE certs SET data = ? WHERE fpr = ?').run(s.duplicated, s.bob.fpr);
    db.close();
    await putCopies(s.server, [s.revoked]);
    await assertRevokedLikeGpg(s, [s.duplicated, s.revoked]);
    // Stored canonical now: one user ID, the revocation under it.
    const store = await AuthStore.open(storePath(s.server), { readonly: true });
    try {
      const stored = (await store.certs.get(s.bob.fpr))!.cert;
      assert.equal(stored.users.length, 1);
      assert.ok(stored.users[0].signatures.some((e) => e.packet.raw.equals(s.revocation)));
    } finally {
      await store.close();
    }
  });
});

describe('the trust engine and evaluation read a raw duplicated certificate as gpg does', () => {
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  after(() => {
    admin.cleanup();
    bob.cleanup();
  });
  const p = partsOf(bob);
  const [uid, selfSig] = p.user(BOB);
  const revocation = certificationRevocation(admin, bob, BOB, NOW - DAY);
  // A keyring file (as monkeysphere-wot reads one): Admin, then Bob with the revocation on a second copy of his user ID.
  const file = Buffer.concat([admin.bytes, p.primary, ...p.user(BOB), uid, selfSig, revocation, ...p.subkey]);

  test('monkeysphere-wot: the revoked certification does not count, as in gpg', async () => {
    const ring = new Keyring(readCerts(file).certs);
    const { network } = await computeKeyringTrust(ring, { now: NOW, roots: [admin.fpr] }, { verifier: new Verifier() });
    const theirs = gpgVerdict([], [file], [admin.fpr], bob);
    assert.ok(!['f', 'u'].includes(theirs.uid));
    assert.equal(network.validity(bob.fpr, BOB), theirs.uid);
  });

  test('evaluation of the raw certificate sees one user ID carrying every signature', async () => {
    const certs = readCerts(file).certs;
    const raw = certs[1];
    assert.equal(raw.users.length, 2, 'the input really is duplicated');
    const [ev] = await evaluateCerts([raw], new Keyring(certs), { now: NOW, verifier: new Verifier() });
    assert.equal(ev.userIds.length, 1);
    const types = ev.userIds[0].certifications.map((c) => c.type);
    assert.deepEqual(types.sort(), [0x10, 0x30]);
  });
});
