/**
 * Finding 3 of the security review, subkeys: Bob's first stored copy carries his
 * authentication subkey twice (anyone can make such a copy: no signature is needed to
 * repeat public packets). When his own 0x28 revocation of that subkey arrives later (from
 * a keyserver: the store's put), a merge that matches the subkey to its *last* duplicate
 * puts the revocation there, while evaluation reads the *first* copy, still bound: the
 * revoked key keeps logging in. gpg merges onto the first copy and says revoked. Real gpg
 * 2.2, fed the same copies in the same order, is the oracle.
 *
 * Stricter than gpg on purpose: gpg 2.2.40 does not collapse a subkey duplicated within
 * one copy (it lists it twice, judging each alone, so a revocation on one copy leaves the
 * other live); we collapse it and the revocation counts, the verdict gpg reaches when the
 * same packets arrive in two copies.
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
import { type AuthServer, ensureBuilt } from '../auth/harness.js';
import { NOW, Person } from '../auth/pki.js';
import { certifiedServer, DAY, gpgVerdict, ours, partsOf, putCopies, storePath, subkeyRevocation } from './duplicates.js';

const BOB = 'Bob <bob@example.net>';

before(() => ensureBuilt());

interface Scene {
  server: AuthServer;
  bob: Person;
  /** Bob's certificate as published. */
  plain: Buffer;
  /** A copy with the subkey twice, each with its binding. */
  duplicated: Buffer;
  /** The keyserver's copy after Bob revoked the subkey (canonical). */
  revoked: Buffer;
  revocation: Buffer;
  /** A copy carrying the subkey twice, the revocation on the second. */
  revokedOnDuplicate: Buffer;
}

/** A server where Admin is the identity certifier and has certified Bob. */
async function scene(t: { after: (fn: () => void) => void }): Promise<Scene> {
  const { server, bob } = await certifiedServer(t, BOB);
  const p = partsOf(bob);
  const head = [p.primary, ...p.user(BOB)];
  const revocation = subkeyRevocation(bob, NOW - DAY);
  return {
    server,
    bob,
    revocation,
    plain: Buffer.concat([...head, ...p.subkey]),
    duplicated: Buffer.concat([...head, ...p.subkey, ...p.subkey]),
    revoked: Buffer.concat([...head, ...p.subkey, revocation]),
    revokedOnDuplicate: Buffer.concat([...head, ...p.subkey, p.subkey[0], revocation]),
  };
}

/** Bob's user ID stays valid, and his subkey is revoked for us exactly when gpg says so: here, always. */
async function assertRevokedLikeGpg(s: Scene, copies: Buffer[]): Promise<void> {
  const mine = await ours(s.server, s.bob);
  const theirs = gpgVerdict(mine.others, copies, [mine.coreFpr], s.bob);
  assert.equal(theirs.subkeyLive, false, 'gpg does not see the subkey revoked');
  assert.equal(mine.uid, theirs.uid, 'our validity differs from gpg 2.2');
  assert.equal(mine.uid, 'f', 'the scene: the user ID stays valid');
  assert.equal(mine.subkeyLive, theirs.subkeyLive, 'the revoked subkey is still granted');
}

/** Whether update-users writes Bob's key (no file at all when no key is authorized). */
async function bobsAccess(s: Scene): Promise<boolean> {
  s.server.writeUserIds(`${BOB}\n`);
  await s.server.ok(['update-users', 'root']);
  return existsSync(s.server.authorizedKeysFile) && readFileSync(s.server.authorizedKeysFile, 'utf8').includes(s.bob.sshKey);
}

describe('a duplicated subkey must not hide its revocation', () => {
  test('duplicate in the first stored copy, revocation later through the store put (as from a keyserver)', async (t) => {
    const s = await scene(t);
    await putCopies(s.server, [s.duplicated]);
    const before = await ours(s.server, s.bob);
    const gpgBefore = gpgVerdict(before.others, [s.duplicated], [before.coreFpr], s.bob);
    assert.deepEqual([before.uid, before.subkeyLive], [gpgBefore.uid, gpgBefore.subkeyLive]);
    assert.equal(before.subkeyLive, true, 'the scene: the subkey is granted before the revocation');
    assert.equal(await bobsAccess(s), true);

    await putCopies(s.server, [s.revoked]);
    await assertRevokedLikeGpg(s, [s.duplicated, s.revoked]);
    assert.equal(await bobsAccess(s), false, 'the revoked subkey keeps access');
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

  test('one copy carrying the subkey twice, the revocation on the second: revoked (gpg lists one copy revoked, one live)', async (t) => {
    const s = await scene(t);
    for (const copies of [[s.revokedOnDuplicate], [s.revokedOnDuplicate, s.plain]]) {
      await putCopies(s.server, copies.slice(-1));
      const mine = await ours(s.server, s.bob);
      const theirs = gpgVerdict(mine.others, copies, [mine.coreFpr], s.bob);
      assert.equal(theirs.subkeyLetters?.length, 2, 'gpg keeps the duplicate');
      assert.ok(theirs.subkeyLetters?.some((l) => ['r', 'i'].includes(l)), 'gpg sees the revocation on one copy');
      assert.equal(mine.uid, theirs.uid);
      assert.equal(mine.uid, 'f');
      assert.equal(mine.subkeyLive, false, 'the revoked subkey is still granted');
    }
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
    const store = await AuthStore.open(storePath(s.server), { readonly: true });
    try {
      const stored = (await store.certs.get(s.bob.fpr))!.cert;
      assert.equal(stored.subkeys.length, 1);
      assert.ok(stored.subkeys[0].signatures.some((e) => e.packet.raw.equals(s.revocation)));
    } finally {
      await store.close();
    }
  });
});

describe('evaluation collapses a raw duplicated subkey', () => {
  const bob = new Person([BOB]);
  after(() => bob.cleanup());

  test('one subkey, revoked, whichever copy carries the revocation (stricter than gpg, see above)', async () => {
    const p = partsOf(bob);
    const revocation = subkeyRevocation(bob, NOW - DAY);
    for (const bytes of [
      Buffer.concat([p.primary, ...p.user(BOB), ...p.subkey, p.subkey[0], revocation]),
      Buffer.concat([p.primary, ...p.user(BOB), p.subkey[0], revocation, ...p.subkey]),
    ]) {
      const [raw] = readCerts(bytes).certs;
      assert.equal(raw.subkeys.length, 2, 'the input really is duplicated');
      const [ev] = await evaluateCerts([raw], new Keyring([raw]), { now: NOW, verifier: new Verifier() });
      assert.equal(ev.subkeys.length, 1);
      assert.equal(ev.subkeys[0].status, 'revoked');
    }
  });
});
