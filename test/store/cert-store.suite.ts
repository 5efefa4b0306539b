/**
 * The CertStore/MetaStore conformance suite: every implementation (SQLite now, PostgreSQL later)
 * runs all of it, no skips. Fixtures are gpg-made certificates from test/fixtures/certs.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { keyPacketFor, signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import { type Cert, publicPackets, readCerts } from '../../src/openpgp/cert.js';
import { mergeCerts } from '../../src/openpgp/merge.js';
import type { CertStore, MetaStore, StoredCert } from '../../src/store/types.js';

const FIXTURES = new URL('../fixtures/certs/', import.meta.url).pathname;
export const NOW = new Date('2023-01-15T00:00:00Z');
const LATER = new Date('2023-02-01T00:00:00Z');

export function fixture(path: string): Cert {
  const { certs } = readCerts(readFileSync(join(FIXTURES, path)));
  assert.equal(certs.length, 1, path);
  return certs[0];
}

export function fixtureRing(): Cert[] {
  return readCerts(readFileSync(join(FIXTURES, 'all.pgp'))).certs;
}

export const INDEX: Record<string, { fpr: string; uids: string[] }> = JSON.parse(readFileSync(join(FIXTURES, 'index.json'), 'utf8'));

export function publicBytes(cert: Cert): Buffer {
  return Buffer.concat(publicPackets(cert).map((p) => p.raw));
}

/** `n` small Ed25519 certificates (one self-signed user ID each), built in memory. */
export function syntheticCerts(n: number): Cert[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const key = keyPacketFor(publicKey, 1640995200);
    const uid = userIdPacket(`Synthetic ${i} <s${i}@example.net>`);
    const sig = signV4({ kind: 'user', primary: key, user: uid }, { type: 0x13, signer: key, privateKey, hashed: [sp.created(1640995200), sp.issuerFingerprint(key)] });
    parts.push(key.packet.raw, uid.raw, sig.packet.raw);
  }
  return readCerts(Buffer.concat(parts)).certs;
}

function packetSet(cert: Cert): Set<string> {
  return new Set(publicPackets(cert).map((p) => `${p.tag}:${p.body.toString('hex')}`));
}

export interface StoreHandle {
  store: CertStore & MetaStore;
  close(): Promise<void>;
}

/** Runs the whole suite; `open` must give a fresh, empty store each time. */
export function certStoreSuite(name: string, open: () => Promise<StoreHandle>): void {
  const withStore = (fn: (store: CertStore & MetaStore) => Promise<void>) => async () => {
    const h = await open();
    try {
      await fn(h.store);
    } finally {
      await h.close();
    }
  };

  describe(`CertStore conformance: ${name}`, () => {
    test(
      'put then get returns the exact public bytes',
      withStore(async (store) => {
        const alice = fixture('alice.pgp');
        const r = await store.put(alice, NOW);
        assert.equal(r.status, 'inserted');
        assert.equal(r.fpr, INDEX.alice.fpr);
        const got = await store.get(INDEX.alice.fpr);
        assert.ok(got);
        assert.equal(got.fpr, INDEX.alice.fpr);
        assert.deepEqual(got.bytes, publicBytes(alice));
        assert.deepEqual(got.bytes, readFileSync(join(FIXTURES, 'alice.pgp')));
        assert.equal(got.cert.primary.fpr, INDEX.alice.fpr);
        assert.equal(got.created, Math.floor(NOW.getTime() / 1000));
        assert.equal(got.updated, got.created);
        assert.equal(await store.count(), 1);
      }),
    );

    test(
      'get: case-insensitive, absent is undefined, a subkey fingerprint is not a certificate',
      withStore(async (store) => {
        const alice = fixture('alice.pgp');
        await store.put(alice, NOW);
        assert.ok(await store.get(INDEX.alice.fpr.toLowerCase()));
        assert.equal(await store.get(INDEX.bob.fpr), undefined);
        assert.equal(await store.get(alice.subkeys[0].key.fpr), undefined);
      }),
    );

    test(
      'putting the same certificate again is unchanged and keeps the time stamps',
      withStore(async (store) => {
        const bob = fixture('bob.pgp');
        await store.put(bob, NOW);
        const again = await store.put(fixture('bob.pgp'), LATER);
        assert.equal(again.status, 'unchanged');
        const got = await store.get(INDEX.bob.fpr);
        assert.equal(got?.updated, Math.floor(NOW.getTime() / 1000));
        assert.deepEqual(got?.bytes, publicBytes(bob));
      }),
    );

    test(
      'put merges with the stored copy (packet union), both orders give the same packets',
      withStore(async (store) => {
        const a = fixture('dave.pgp');
        const b = fixture('merge/dave-b.pgp');
        await store.put(a, NOW);
        const r = await store.put(b, LATER);
        assert.equal(r.status, 'updated');
        const got = await store.get(INDEX.dave.fpr);
        assert.ok(got);
        assert.deepEqual(got.bytes, publicBytes(mergeCerts(a, b)));
        assert.deepEqual(
          got.cert.users.map((u) => u.text),
          ['Dave <dave@example.org>', 'Dave <dave@work.example>'],
        );
        assert.equal(got.cert.subkeys.length, 2);
        assert.equal(got.updated, Math.floor(LATER.getTime() / 1000));
        assert.equal(got.created, Math.floor(NOW.getTime() / 1000));
        assert.deepEqual(r.cert.packets.length, got.cert.packets.length);
        // Either input again adds nothing.
        assert.equal((await store.put(a, LATER)).status, 'unchanged');
        assert.equal((await store.put(b, LATER)).status, 'unchanged');
        // The other order gives the same set of packets.
        await store.delete(INDEX.dave.fpr);
        await store.put(b, NOW);
        assert.equal((await store.put(a, NOW)).status, 'updated');
        const other = await store.get(INDEX.dave.fpr);
        assert.deepEqual(packetSet(other!.cert), packetSet(got.cert));
        // The new subkey and user ID are indexed.
        assert.deepEqual(
          (await store.byExactUserId('Dave <dave@work.example>')).map((s) => s.fpr),
          [INDEX.dave.fpr],
        );
        const newSub = got.cert.subkeys.find((s) => !a.subkeys.some((x) => x.key.fpr === s.key.fpr))!;
        assert.deepEqual(
          (await store.byKeyId(newSub.key.keyId)).map((s) => s.fpr),
          [INDEX.dave.fpr],
        );
      }),
    );

    test(
      'merging two halves of an expiry renewal gives the full certificate',
      withStore(async (store) => {
        await store.put(fixture('merge/renewed-old.pgp'), NOW);
        const r = await store.put(fixture('merge/renewed-new.pgp'), NOW);
        assert.equal(r.status, 'updated');
        assert.deepEqual(packetSet(r.cert), packetSet(fixture('renewed.pgp')));
      }),
    );

    test(
      'byKeyId: long and short key IDs, fingerprints, subkeys, 0x and lower case',
      withStore(async (store) => {
        await store.putMany(fixtureRing(), NOW);
        const alice = fixture('alice.pgp');
        const fpr = INDEX.alice.fpr;
        const ids = (list: StoredCert[]) => list.map((s) => s.fpr);
        assert.deepEqual(ids(await store.byKeyId(alice.primary.keyId)), [fpr]);
        assert.deepEqual(ids(await store.byKeyId(fpr.slice(-8))), [fpr]);
        assert.deepEqual(ids(await store.byKeyId(fpr)), [fpr]);
        assert.deepEqual(ids(await store.byKeyId(`0x${fpr.slice(-16).toLowerCase()}`)), [fpr]);
        for (const s of alice.subkeys) {
          assert.deepEqual(ids(await store.byKeyId(s.key.keyId)), [fpr]);
          assert.deepEqual(ids(await store.byKeyId(s.key.fpr)), [fpr]);
        }
        assert.deepEqual(await store.byKeyId('0123456789ABCDEF'), []);
        // A suffix that is not a key ID boundary still matches as a suffix.
        assert.deepEqual(ids(await store.byKeyId(fpr.slice(-12))), [fpr]);
        for (const bad of ['1234567', 'xyz12345', '', `${fpr}00000000000000000000000000`]) {
          await assert.rejects(store.byKeyId(bad), (err: unknown) => err instanceof InputError && err.code === 'MS_STORE_KEYID');
        }
      }),
    );

    test(
      'lookups return every match once, in fingerprint order',
      withStore(async (store) => {
        // Two primaries carrying the same subkey and the same user ID (the store does not judge validity).
        const sub = keyPacketFor(generateKeyPairSync('ed25519').publicKey, 1640995200, { subkey: true });
        const uid = userIdPacket('Shared <shared@example.net>');
        const parts: Buffer[] = [];
        for (let i = 0; i < 3; i++) parts.push(keyPacketFor(generateKeyPairSync('ed25519').publicKey, 1640995200 + i).packet.raw, uid.raw, sub.packet.raw);
        const certs = readCerts(Buffer.concat(parts)).certs;
        await store.putMany(certs, NOW);
        const want = certs.map((c) => c.primary.fpr).sort();
        assert.deepEqual((await store.byKeyId(sub.keyId)).map((s) => s.fpr), want);
        assert.deepEqual((await store.byKeyId(sub.fpr.slice(-8))).map((s) => s.fpr), want);
        assert.deepEqual((await store.byExactUserId('Shared <shared@example.net>')).map((s) => s.fpr), want);
        await store.delete(want[1]);
        assert.deepEqual((await store.byKeyId(sub.keyId)).map((s) => s.fpr), [want[0], want[2]]);
      }),
    );

    test(
      'byExactUserId matches whole user IDs only, case-sensitively',
      withStore(async (store) => {
        await store.putMany(fixtureRing(), NOW);
        const ids = (list: StoredCert[]) => list.map((s) => s.fpr);
        assert.deepEqual(ids(await store.byExactUserId('Uma <uma@old.example.net>')), [INDEX['uid-revoked'].fpr]);
        assert.deepEqual(ids(await store.byExactUserId('Alice <alice@example.com>')), [INDEX.alice.fpr]);
        assert.deepEqual(await store.byExactUserId('alice <alice@example.com>'), []);
        assert.deepEqual(await store.byExactUserId('Alice'), []);
        assert.deepEqual(await store.byExactUserId(''), []);
      }),
    );

    test(
      'all() streams every certificate once, in fingerprint order, across pages',
      withStore(async (store) => {
        const certs = [...fixtureRing(), ...syntheticCerts(600)];
        const results = await store.putMany(certs, NOW);
        assert.deepEqual(
          results.map((r) => r.fpr),
          certs.map((c) => c.primary.fpr),
        );
        assert.equal(await store.count(), certs.length);
        const seen: string[] = [];
        for await (const s of store.all()) {
          seen.push(s.fpr);
          assert.equal(s.cert.primary.fpr, s.fpr);
        }
        assert.deepEqual(seen, certs.map((c) => c.primary.fpr).sort());
      }),
    );

    test(
      'delete removes the certificate and its index entries',
      withStore(async (store) => {
        await store.putMany(fixtureRing(), NOW);
        const n = await store.count();
        const alice = fixture('alice.pgp');
        assert.equal(await store.delete(INDEX.alice.fpr.toLowerCase()), true);
        assert.equal(await store.get(INDEX.alice.fpr), undefined);
        assert.deepEqual(await store.byKeyId(alice.primary.keyId), []);
        assert.deepEqual(await store.byKeyId(alice.subkeys[0].key.keyId), []);
        assert.deepEqual(await store.byExactUserId('Alice <alice@example.com>'), []);
        assert.equal(await store.count(), n - 1);
        assert.equal(await store.delete(INDEX.alice.fpr), false);
        // Putting it back works.
        assert.equal((await store.put(alice, NOW)).status, 'inserted');
      }),
    );

    test(
      'trust packets are not stored',
      withStore(async (store) => {
        const alice = fixture('alice.pgp');
        const trust = { tag: 12, offset: 0, raw: Buffer.from([0xb0, 0x02, 0x00, 0x00]), body: Buffer.from([0x00, 0x00]) };
        const withTrust: Cert = { ...alice, packets: [alice.packets[0], trust, ...alice.packets.slice(1)] };
        await store.put(withTrust, NOW);
        assert.deepEqual((await store.get(INDEX.alice.fpr))?.bytes, publicBytes(alice));
      }),
    );

    test(
      'secret keys are refused, and putMany is all or nothing',
      withStore(async (store) => {
        const secret = fixture('secret/alice.pgp');
        assert.equal(secret.secret, true);
        await assert.rejects(store.put(secret, NOW), (err: unknown) => err instanceof InputError && err.code === 'MS_STORE_SECRET');
        await assert.rejects(store.putMany([fixture('bob.pgp'), secret, fixture('carol.pgp')], NOW), (err: unknown) => err instanceof InputError);
        assert.equal(await store.count(), 0);
        assert.equal(await store.get(INDEX.bob.fpr), undefined);
      }),
    );

    test(
      'meta: get, set, replace, delete',
      withStore(async (store) => {
        assert.equal(await store.getMeta('refresh'), undefined);
        await store.setMeta('refresh', '1');
        await store.setMeta('refresh', '2');
        await store.setMeta('other', 'ünïcode');
        assert.equal(await store.getMeta('refresh'), '2');
        assert.equal(await store.getMeta('other'), 'ünïcode');
        assert.equal(await store.deleteMeta('refresh'), true);
        assert.equal(await store.deleteMeta('refresh'), false);
        assert.equal(await store.getMeta('refresh'), undefined);
      }),
    );
  });
}
