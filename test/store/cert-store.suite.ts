/**
 * The store conformance suite: every implementation of `Store` (src/store/types.ts; SQLite in
 * sqlite.test.ts, PostgreSQL in postgres.test.ts) runs all of it, no skips, one test or more per
 * MUST of types.ts. Fixtures are gpg-made certificates from test/fixtures/certs and v6 ones from
 * test/fixtures/store (made with openpgp.js, see make-v6.ts there).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EnvironmentError, InputError } from '../../src/errors.js';
import { keyPacketFor, signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import { type Cert, publicPackets, readCerts } from '../../src/openpgp/cert.js';
import { mergeCerts } from '../../src/openpgp/merge.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import type { UnixTime } from '../../src/clock.js';
import type { Store, StoredCert } from '../../src/store/types.js';

const FIXTURES = new URL('../fixtures/certs/', import.meta.url).pathname;
const STORE_FIXTURES = new URL('../fixtures/store/', import.meta.url).pathname;
/** 2023-01-15T00:00:00Z */
export const NOW: UnixTime = 1673740800;
/** 2023-02-01T00:00:00Z */
const LATER: UnixTime = 1675209600;

export function fixture(path: string): Cert {
  const { certs } = readCerts(readFileSync(join(FIXTURES, path)));
  assert.equal(certs.length, 1, path);
  return certs[0];
}

/** A certificate of test/fixtures/store (v6.pgp, v6-certified.pgp). */
export function storeFixture(path: string): Cert {
  const { certs } = readCerts(readFileSync(join(STORE_FIXTURES, path)));
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
  return Array.from({ length: n }, (_, i) => syntheticCert([`Synthetic ${i} <s${i}@example.net>`]));
}

/** A small Ed25519 certificate with these self-signed user IDs, built in memory. */
export function syntheticCert(uids: string[]): Cert {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const key = keyPacketFor(publicKey, 1640995200);
  const parts: Buffer[] = [key.packet.raw];
  for (const text of uids) {
    const uid = userIdPacket(text);
    const sig = signV4({ kind: 'user', primary: key, user: uid }, { type: 0x13, signer: key, privateKey, hashed: [sp.created(1640995200), sp.issuerFingerprint(key)] });
    parts.push(uid.raw, sig.packet.raw);
  }
  return readCerts(Buffer.concat(parts)).certs[0];
}

/** The certificate without the signatures on its user IDs made by other keys (its third-party certifications). */
export function withoutCertifications(cert: Cert): Cert {
  const drop = new Set(cert.users.flatMap((u) => u.signatures.filter((s) => s.sig && !s.sig.issuerKeyIds.includes(cert.primary.keyId)).map((s) => s.packet)));
  return readCerts(Buffer.concat(cert.packets.filter((p) => !drop.has(p)).map((p) => p.raw))).certs[0];
}

function packetSet(cert: Cert): Set<string> {
  return new Set(publicPackets(cert).map((p) => `${p.tag}:${p.body.toString('hex')}`));
}

export interface SuiteOptions {
  /** The same database as `store` (which the suite closes first), opened read-only. */
  reopenReadonly(store: Store): Promise<Store>;
}

/**
 * Runs the whole suite. `open` must give a fresh, empty store each time; the suite closes it.
 */
export function storeSuite(name: string, open: () => Promise<Store>, opts: SuiteOptions): void {
  const withFull = (fn: (store: Store) => Promise<void>) => async () => {
    const store = await open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };
  // The tests kept from the CertStore/MetaStore suite: certificates and meta, as one object.
  const withStore = (fn: (store: Store['certs'] & Store['meta']) => Promise<void>) =>
    withFull(async (full) => {
      const c = full.certs;
      const m = full.meta;
      const both: Store['certs'] & Store['meta'] = {
        put: (cert, now) => c.put(cert, now),
        putMany: (certs, now) => c.putMany(certs, now),
        replace: (fpr, expected, cert, now) => c.replace(fpr, expected, cert, now),
        get: (fpr) => c.get(fpr),
        getMany: (fprs) => c.getMany(fprs),
        byKeyId: (id) => c.byKeyId(id),
        byFingerprint: (fpr) => c.byFingerprint(fpr),
        primariesByKeyId: (ids) => c.primariesByKeyId(ids),
        byExactUserId: (text) => c.byExactUserId(text),
        byAddress: (address, limit) => c.byAddress(address, limit),
        all: () => c.all(),
        delete: (fpr, now) => c.delete(fpr, now),
        count: () => c.count(),
        getMeta: (k) => m.getMeta(k),
        setMeta: (k, v) => m.setMeta(k, v),
        deleteMeta: (k) => m.deleteMeta(k),
      };
      await fn(both);
    });

  describe(`Store conformance: ${name}: certificates and meta`, () => {
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
        assert.equal(got.created, NOW);
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
        assert.equal(got?.updated, NOW);
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
        assert.equal(got.updated, LATER);
        assert.equal(got.created, NOW);
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
      'byAddress finds a user ID by its address, folded, and nothing by a neighbour',
      withStore(async (store) => {
        await store.putMany(fixtureRing(), NOW);
        const ids = (list: StoredCert[]) => list.map((s) => s.fpr);
        const alice = [INDEX.alice.fpr];
        assert.deepEqual(ids(await store.byAddress('alice@example.com', 10)), alice);
        assert.deepEqual(ids(await store.byAddress('ALICE@Example.COM', 10)), alice);
        assert.deepEqual(ids(await store.byAddress('uma@old.example.net', 10)), [INDEX['uid-revoked'].fpr]);
        // Not a substring search: a part of an address, or text around it, finds nothing.
        for (const other of ['lice@example.com', 'alice@example.co', 'example.com', 'Alice <alice@example.com>', 'Alice', '']) {
          assert.deepEqual(await store.byAddress(other, 10), [], other);
        }
        assert.deepEqual(await store.byAddress('alice@example.com', 0), []);
      }),
    );

    test(
      'byAddress: bare addresses and addresses in brackets, every carrier in fingerprint order up to the limit, updated on delete',
      withStore(async (store) => {
        const parts: Buffer[] = [];
        const texts = ['Same <same@example.org>', 'same@example.org', 'SAME@EXAMPLE.ORG', 'Other <other@example.org> (same@example.org)', 'ssh://same@example.org'];
        for (let i = 0; i < texts.length; i++) parts.push(keyPacketFor(generateKeyPairSync('ed25519').publicKey, 1640995200 + i).packet.raw, userIdPacket(texts[i]).raw);
        const certs = readCerts(Buffer.concat(parts)).certs;
        await store.putMany(certs, NOW);
        // The first three carry the address; a comment after it or a URI around it does not.
        const want = certs.slice(0, 3).map((c) => c.primary.fpr).sort();
        assert.deepEqual((await store.byAddress('same@example.org', 10)).map((s) => s.fpr), want);
        assert.deepEqual((await store.byAddress('same@example.org', 2)).map((s) => s.fpr), want.slice(0, 2));
        await store.delete(want[0]);
        assert.deepEqual((await store.byAddress('same@example.org', 10)).map((s) => s.fpr), want.slice(1));
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
      'getMany and certifiedBy take more keys than one statement binds',
      withFull(async (store) => {
        const certs = [...fixtureRing(), ...syntheticCerts(600)];
        await store.certs.putMany(certs, NOW);
        const fprs = certs.map((c) => c.primary.fpr).reverse();
        assert.deepEqual(
          (await store.certs.getMany(fprs)).map((s) => s.fpr),
          fprs,
        );
        const few = await store.certifications.certifiedBy([INDEX.alice.fpr.slice(-16), INDEX.bob.fpr.slice(-16)]);
        const many = await store.certifications.certifiedBy([...certs.map((c) => c.primary.keyId), 'F'.repeat(16)]);
        const ofRing = many.filter((r) => r.issuer === INDEX.alice.fpr.slice(-16) || r.issuer === INDEX.bob.fpr.slice(-16));
        assert.deepEqual(ofRing, few);
        const keys = many.map((r) => [r.targetSerial, r.issuer] as const);
        assert.deepEqual(
          keys,
          [...keys].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0)),
        );
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
        assert.deepEqual(await store.byAddress('alice@example.com', 10), []);
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

  describe(`Store conformance: ${name}: certificates`, () => {
    test(
      'put returns the stored bytes; StoredCert carries digest, serial and times, and parses on demand',
      withFull(async (store) => {
        const alice = fixture('alice.pgp');
        const r = await store.certs.put(alice, NOW);
        assert.deepEqual(r.bytes, publicBytes(alice));
        const got = await store.certs.get(INDEX.alice.fpr);
        assert.ok(got);
        assert.deepEqual(got.bytes, r.bytes);
        assert.deepEqual(got.digest, sksDigest(got.bytes));
        assert.equal(got.digest.length, 16);
        assert.equal(typeof got.serial, 'number');
        assert.equal(got.created, NOW);
        // Parsed once, then the same object.
        const parsed = got.cert;
        assert.equal(got.cert, parsed);
        assert.equal(parsed.primary.fpr, INDEX.alice.fpr);
        assert.deepEqual(Buffer.concat(parsed.packets.map((p) => p.raw)), got.bytes);
        // Unchanged and updated results carry the stored bytes too.
        const again = await store.certs.put(alice, LATER);
        assert.equal(again.status, 'unchanged');
        assert.deepEqual(again.bytes, got.bytes);
        const b = await store.certs.put(fixture('merge/dave-b.pgp'), NOW);
        const merged = await store.certs.put(fixture('dave.pgp'), LATER);
        assert.equal(merged.status, 'updated');
        assert.deepEqual(merged.bytes, (await store.certs.get(INDEX.dave.fpr))?.bytes);
        assert.notDeepEqual(merged.bytes, b.bytes);
        // Every result names the stored row: its serial and the digest of its bytes.
        const dave = (await store.certs.get(INDEX.dave.fpr))!;
        for (const [result, stored] of [
          [r, got],
          [again, got],
          [b, dave],
          [merged, dave],
        ] as const) {
          assert.equal(result.serial, stored.serial);
          assert.deepEqual(result.digest, sksDigest(result.bytes));
        }
        assert.deepEqual(merged.digest, dave.digest);
        const replaced = await store.certs.replace(INDEX.dave.fpr, dave.bytes, dave.cert, LATER);
        assert.equal(replaced?.status, 'unchanged');
        assert.equal(replaced?.serial, dave.serial);
        assert.deepEqual(replaced?.digest, dave.digest);
      }),
    );

    test(
      'put stores canonical: a duplicated user ID is stored once, with the signatures of both copies',
      withFull(async (store) => {
        const bob = fixture('bob.pgp');
        const u = bob.users[0];
        const dup = readCerts(Buffer.concat([publicBytes(bob), u.packet.raw, ...u.signatures.map((sig) => sig.packet.raw)])).certs[0];
        assert.equal(dup.users.length, 2);
        const r = await store.certs.put(dup, NOW);
        assert.equal(r.status, 'inserted');
        assert.equal(r.cert.users.length, 1);
        assert.deepEqual((await store.certs.get(INDEX.bob.fpr))?.bytes, publicBytes(bob));
        assert.equal((await store.certs.put(dup, LATER)).status, 'unchanged');
      }),
    );

    test(
      'all(): a certificate present for the whole iteration is seen once, whatever is written meanwhile',
      withFull(async (store) => {
        const stay = syntheticCerts(700);
        const go = syntheticCerts(100);
        await store.certs.putMany([...stay, ...go], NOW);
        const seen = new Map<string, number>();
        let i = 0;
        for await (const s of store.certs.all()) {
          seen.set(s.fpr, (seen.get(s.fpr) ?? 0) + 1);
          if (i++ === 10) {
            for (const c of go) await store.certs.delete(c.primary.fpr);
            await store.certs.putMany(syntheticCerts(100), NOW);
            await store.certs.put(fixture('alice.pgp'), NOW);
          }
        }
        for (const c of stay) assert.equal(seen.get(c.primary.fpr), 1, c.primary.fpr);
        for (const n of seen.values()) assert.equal(n, 1);
      }),
    );

    test(
      'serial: increases with each certificate first stored, stays on update, is new after delete and re-add',
      withFull(async (store) => {
        const [a, b, c] = [fixture('alice.pgp'), fixture('bob.pgp'), fixture('merge/dave-b.pgp')];
        await store.certs.putMany([a, b], NOW);
        await store.certs.put(c, NOW);
        const serial = async (fpr: string) => (await store.certs.get(fpr))!.serial;
        const [sa, sb, sc] = [await serial(INDEX.alice.fpr), await serial(INDEX.bob.fpr), await serial(INDEX.dave.fpr)];
        assert.ok(sa < sb && sb < sc, `${sa} ${sb} ${sc}`);
        await store.certs.put(fixture('dave.pgp'), LATER);
        assert.equal(await serial(INDEX.dave.fpr), sc);
        // Deleting the newest and adding it back must not reuse its serial.
        await store.certs.delete(INDEX.dave.fpr);
        await store.certs.put(c, LATER);
        assert.ok((await serial(INDEX.dave.fpr)) > sc);
      }),
    );

    test(
      'getMany: in the order given, absent ones left out, any case',
      withFull(async (store) => {
        const ring = fixtureRing();
        await store.certs.putMany(ring, NOW);
        const want = [INDEX.carol.fpr, INDEX.alice.fpr, INDEX.bob.fpr];
        assert.deepEqual(
          (await store.certs.getMany([want[0], '0'.repeat(40), want[1].toLowerCase(), want[2]])).map((s) => s.fpr),
          want,
        );
        assert.deepEqual(await store.certs.getMany([]), []);
        const every = ring.map((c) => c.primary.fpr).reverse();
        const extra = syntheticCerts(3);
        await store.certs.putMany(extra, NOW);
        const many = [...extra.map((c) => c.primary.fpr), ...every];
        const got = await store.certs.getMany(many);
        assert.deepEqual(
          got.map((s) => s.fpr),
          many,
        );
        for (const s of got) assert.equal(s.cert.primary.fpr, s.fpr);
      }),
    );

    test(
      'replace: compare and swap on the stored bytes, no merge, canonical',
      withFull(async (store) => {
        const bob = fixture('bob.pgp');
        const bare = withoutCertifications(bob);
        assert.ok(bare.packets.length < bob.packets.length);
        const put = await store.certs.put(bob, NOW);
        const before = await store.changes.latest();
        // Stale expectation: nothing written.
        assert.equal(await store.certs.replace(INDEX.bob.fpr, publicBytes(bare), bare, LATER), undefined);
        assert.deepEqual((await store.certs.get(INDEX.bob.fpr))?.bytes, put.bytes);
        assert.equal(await store.changes.latest(), before);
        // Absent certificate.
        assert.equal(await store.certs.replace(INDEX.alice.fpr, publicBytes(fixture('alice.pgp')), fixture('alice.pgp'), LATER), undefined);
        assert.equal(await store.certs.get(INDEX.alice.fpr), undefined);
        // The right expectation: packets go away.
        const r = await store.certs.replace(INDEX.bob.fpr.toLowerCase(), put.bytes, bare, LATER);
        assert.ok(r);
        assert.equal(r.status, 'updated');
        assert.deepEqual(r.bytes, publicBytes(bare));
        const got = await store.certs.get(INDEX.bob.fpr);
        assert.deepEqual(got?.bytes, publicBytes(bare));
        assert.equal(got?.updated, LATER);
        assert.equal(got?.created, NOW);
        assert.deepEqual(got?.digest, sksDigest(publicBytes(bare)));
        assert.equal(await store.changes.latest(), before + 1);
        // The same bytes again: unchanged, no change recorded.
        const same = await store.certs.replace(INDEX.bob.fpr, publicBytes(bare), bare, LATER);
        assert.equal(same?.status, 'unchanged');
        assert.equal(await store.changes.latest(), before + 1);
        // Stored canonical: a duplicated user ID is stored once.
        const dup = readCerts(Buffer.concat([publicBytes(bob), ...bob.users.flatMap((u) => [u.packet.raw, ...u.signatures.map((s) => s.packet.raw)])])).certs[0];
        assert.ok(dup.users.length > bob.users.length);
        const canon = await store.certs.replace(INDEX.bob.fpr, publicBytes(bare), dup, LATER);
        assert.equal(canon?.status, 'updated');
        assert.equal(canon?.cert.users.length, bob.users.length);
        assert.deepEqual((await store.certs.get(INDEX.bob.fpr))?.bytes, publicBytes(bob));
        // Another primary key, a secret key.
        await assert.rejects(
          store.certs.replace(INDEX.bob.fpr, publicBytes(bob), fixture('alice.pgp'), LATER),
          (err: unknown) => err instanceof InputError && err.code === 'MS_STORE_MISMATCH',
        );
        await store.certs.put(fixture('alice.pgp'), NOW);
        const aliceBytes = (await store.certs.get(INDEX.alice.fpr))!.bytes;
        await assert.rejects(
          store.certs.replace(INDEX.alice.fpr, aliceBytes, fixture('secret/alice.pgp'), LATER),
          (err: unknown) => err instanceof InputError && err.code === 'MS_STORE_SECRET',
        );
        assert.deepEqual((await store.certs.get(INDEX.alice.fpr))?.bytes, aliceBytes);
      }),
    );

    test(
      'byKeyId: v6 keys by key ID (high 64 bits), short ID (its low 32), fingerprint and suffixes',
      withFull(async (store) => {
        const vera = storeFixture('v6.pgp');
        await store.certs.putMany([vera, ...fixtureRing()], NOW);
        const fpr = vera.primary.fpr;
        assert.equal(fpr.length, 64);
        const ids = async (id: string) => (await store.certs.byKeyId(id)).map((s): string => s.fpr);
        assert.deepEqual(await ids(fpr.slice(0, 16)), [fpr], 'key ID');
        assert.deepEqual(await ids(fpr.slice(8, 16)), [fpr], 'short key ID');
        assert.deepEqual(await ids(`0x${fpr.slice(8, 16).toLowerCase()}`), [fpr]);
        assert.deepEqual(await ids(fpr), [fpr], 'fingerprint');
        assert.deepEqual(await ids(fpr.toLowerCase().replace(/(.{4})/g, '$1 ')), [fpr], 'spaced, lower case');
        assert.deepEqual(await ids(fpr.slice(-16)), [fpr], 'a 16-digit fingerprint suffix');
        assert.deepEqual(await ids(fpr.slice(-8)), [fpr], 'an 8-digit fingerprint suffix');
        assert.deepEqual(await ids(fpr.slice(-40)), [fpr], 'a 40-digit fingerprint suffix');
        for (const s of vera.subkeys) {
          assert.deepEqual(await ids(s.key.fpr.slice(0, 16)), [fpr]);
          assert.deepEqual(await ids(s.key.fpr.slice(8, 16)), [fpr]);
          assert.deepEqual(await ids(s.key.fpr), [fpr]);
        }
        // The v6 key's first 8 digits are not its short ID.
        assert.ok(!(await ids(fpr.slice(0, 8))).includes(fpr) || fpr.slice(0, 8) === fpr.slice(-8));
        // v4 keys still match as before, and a 64-digit miss is empty.
        assert.deepEqual(await ids(INDEX.alice.fpr.slice(-8)), [INDEX.alice.fpr]);
        assert.deepEqual(await ids('F'.repeat(64)), []);
      }),
    );

    test(
      'byFingerprint: exactly a primary key or subkey fingerprint, v4 and v6, never a suffix',
      withFull(async (store) => {
        const vera = storeFixture('v6.pgp');
        await store.certs.putMany([vera, ...fixtureRing()], NOW);
        const fprs = async (f: string) => (await store.certs.byFingerprint(f)).map((s): string => s.fpr);
        const v6 = vera.primary.fpr;
        assert.deepEqual(await fprs(v6), [v6]);
        assert.deepEqual(await fprs(v6.toLowerCase()), [v6], 'case-insensitive');
        for (const s of vera.subkeys) assert.deepEqual(await fprs(s.key.fpr), [v6], 'a subkey resolves to its primary');
        assert.deepEqual(await fprs(v6.slice(-40)), [], 'the last 40 digits of a v6 fingerprint are not a v4 fingerprint');
        assert.deepEqual(await fprs(INDEX.alice.fpr), [INDEX.alice.fpr]);
        assert.deepEqual(await fprs(`0x${INDEX.alice.fpr.toLowerCase()}`), [INDEX.alice.fpr]);
        assert.deepEqual(await fprs('F'.repeat(40)), []);
        const bytes = (await store.certs.byFingerprint(INDEX.alice.fpr))[0].bytes;
        assert.deepEqual(bytes, (await store.certs.get(INDEX.alice.fpr))?.bytes);
        for (const bad of [INDEX.alice.fpr.slice(-16), 'XYZ', '']) {
          await assert.rejects(store.certs.byFingerprint(bad), (e: InputError) => e.code === 'MS_STORE_KEYID', bad);
        }
      }),
    );
  });

  describe(`Store conformance: ${name}: certification index`, () => {
    const aliceId = INDEX.alice.fpr.slice(-16);
    const bobId = INDEX.bob.fpr.slice(-16);

    test(
      'certifiedBy and certificationsOf agree with the stored certificates',
      withFull(async (store) => {
        await store.certs.putMany(fixtureRing(), NOW);
        const by = await store.certifications.certifiedBy([aliceId.toLowerCase()]);
        const targets = ['bob', 'carol', 'revoked-hard', 'revoked-soft', 'uid-revoked', 'local', 'persona', 'casual', 'positive', 'cert-expired', 'ltsign'];
        assert.deepEqual(new Set(by.map((r) => r.target)), new Set(targets.map((t) => INDEX[t].fpr)));
        for (const r of by) {
          assert.equal(r.issuer, aliceId);
          assert.equal(r.targetSerial, (await store.certs.get(r.target))!.serial);
          assert.equal(r.trust, r.target === INDEX.carol.fpr || r.target === INDEX.ltsign.fpr, r.target);
        }
        // Ordered by target serial, then issuer; one row per (issuer, target).
        const both = await store.certifications.certifiedBy([bobId, aliceId, aliceId]);
        const keys = both.map((r) => [r.targetSerial, r.issuer] as const);
        const sorted = [...keys].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
        assert.deepEqual(keys, sorted);
        assert.equal(new Set(keys.map((k) => `${k[0]}:${k[1]}`)).size, keys.length);
        assert.deepEqual(
          both.filter((r) => r.issuer === bobId).map((r) => r.target).sort(),
          [INDEX.revsig.fpr, INDEX.sha1.fpr].sort(),
        );
        // certificationsOf: one row per issuer, ordered by issuer.
        const ofSha1 = await store.certifications.certificationsOf(INDEX.sha1.fpr.toLowerCase());
        assert.deepEqual(
          ofSha1.map((r) => [r.issuer, r.target, r.trust]),
          [
            [bobId, INDEX.sha1.fpr, false],
            [INDEX.grace.fpr.slice(-16), INDEX.sha1.fpr, false],
          ],
        );
        assert.deepEqual(await store.certifications.certificationsOf(INDEX.alice.fpr), []);
        assert.deepEqual(await store.certifications.certificationsOf('0'.repeat(40)), []);
        assert.deepEqual(await store.certifications.certifiedBy([]), []);
        assert.deepEqual(await store.certifications.certifiedBy(['0123456789ABCDEF']), []);
      }),
    );

    test(
      'the index follows put, merge, replace and delete',
      withFull(async (store) => {
        const bob = fixture('bob.pgp');
        const bare = withoutCertifications(bob);
        const issuers = async () => (await store.certifications.certificationsOf(INDEX.bob.fpr)).map((r) => r.issuer);
        await store.certs.put(bare, NOW);
        assert.deepEqual(await issuers(), []);
        assert.deepEqual(await store.certifications.certifiedBy([aliceId]), []);
        const merged = await store.certs.put(bob, NOW);
        assert.equal(merged.status, 'updated');
        assert.deepEqual(await issuers(), [aliceId]);
        assert.deepEqual(
          (await store.certifications.certifiedBy([aliceId])).map((r) => r.target),
          [INDEX.bob.fpr],
        );
        await store.certs.replace(INDEX.bob.fpr, merged.bytes, bare, LATER);
        assert.deepEqual(await issuers(), []);
        assert.deepEqual(await store.certifications.certifiedBy([aliceId]), []);
        await store.certs.put(bob, LATER);
        assert.deepEqual(await issuers(), [aliceId]);
        await store.certs.delete(INDEX.bob.fpr);
        assert.deepEqual(await issuers(), []);
        assert.deepEqual(await store.certifications.certifiedBy([aliceId]), []);
      }),
    );

    test(
      'a v6 issuer is indexed by its v6 key ID',
      withFull(async (store) => {
        const vera = storeFixture('v6.pgp');
        const victor = storeFixture('v6-certified.pgp');
        await store.certs.putMany([vera, victor], NOW);
        const rows = await store.certifications.certifiedBy([vera.primary.fpr.slice(0, 16)]);
        assert.deepEqual(
          rows.map((r) => [r.target, r.issuer, r.trust]),
          [[victor.primary.fpr, vera.primary.fpr.slice(0, 16), false]],
        );
        assert.deepEqual(await store.certifications.certifiedBy([vera.primary.fpr.slice(-16)]), []);
      }),
    );
  });

  describe(`Store conformance: ${name}: change feed and digests`, () => {
    test(
      'one change per write that changes bytes, with the digests that came and went',
      withFull(async (store) => {
        assert.equal(await store.changes.latest(), 0);
        assert.deepEqual(await store.changes.since(0, 10), []);
        const daveA = fixture('dave.pgp');
        const daveB = fixture('merge/dave-b.pgp');
        const ins = await store.certs.put(daveA, NOW);
        const d1 = (await store.certs.get(INDEX.dave.fpr))!.digest;
        assert.deepEqual(d1, sksDigest(ins.bytes));
        assert.equal((await store.certs.put(daveA, LATER)).status, 'unchanged');
        await store.certs.put(daveB, LATER);
        const d2 = (await store.certs.get(INDEX.dave.fpr))!.digest;
        await store.certs.putMany([fixture('alice.pgp'), fixture('bob.pgp'), fixture('alice.pgp')], LATER);
        assert.equal(await store.certs.delete(INDEX.dave.fpr, LATER + 5), true);
        assert.equal(await store.certs.delete(INDEX.dave.fpr, LATER + 6), false);
        const changes = await store.changes.since(0, 100);
        assert.equal(changes.length, 5);
        for (let i = 1; i < changes.length; i++) assert.ok(changes[i].seq > changes[i - 1].seq);
        assert.equal(await store.changes.latest(), changes[4].seq);
        const [c1, c2, c3, c4, c5] = changes;
        assert.deepEqual([c1.fpr, c1.added, c1.removed, c1.at], [INDEX.dave.fpr, d1, undefined, NOW]);
        assert.deepEqual([c2.fpr, c2.added, c2.removed, c2.at], [INDEX.dave.fpr, d2, d1, LATER]);
        assert.deepEqual([c3.fpr, c4.fpr], [INDEX.alice.fpr, INDEX.bob.fpr]);
        assert.equal(c3.removed, undefined);
        assert.deepEqual([c5.fpr, c5.added, c5.removed, c5.at], [INDEX.dave.fpr, undefined, d2, LATER + 5]);
        // Without a time, a deletion is recorded at the certificate's last write.
        await store.certs.delete(INDEX.alice.fpr);
        assert.equal((await store.changes.since(c5.seq, 1))[0].at, LATER);
        // since: after a seq, oldest first, at most limit.
        assert.deepEqual(
          (await store.changes.since(c2.seq, 2)).map((c) => c.seq),
          [c3.seq, c4.seq],
        );
        assert.equal((await store.changes.since(c5.seq, 10)).length, 1);
      }),
    );

    test(
      'prune drops old changes, keeps latest(), and seqs are never reused',
      withFull(async (store) => {
        await store.certs.putMany(syntheticCerts(4), NOW);
        const latest = await store.changes.latest();
        const all = await store.changes.since(0, 100);
        assert.equal(all.length, 4);
        const dropped = await store.changes.prune(all[1].seq);
        assert.ok(dropped <= 2);
        assert.equal(await store.changes.latest(), latest);
        const left = await store.changes.since(0, 100);
        assert.ok(left.every((c) => c.seq > all[1].seq || dropped < 2));
        assert.deepEqual(
          left.slice(-2).map((c) => c.seq),
          [all[2].seq, all[3].seq],
        );
        await store.changes.prune(latest);
        assert.equal(await store.changes.latest(), latest);
        await store.certs.put(fixture('alice.pgp'), NOW);
        assert.ok((await store.changes.latest()) > latest);
        assert.equal((await store.changes.since(latest, 10)).length, 1);
      }),
    );

    test(
      'byDigest in the order given; digests() in byte order, following every write',
      withFull(async (store) => {
        const ring = fixtureRing();
        await store.certs.putMany([...ring, ...syntheticCerts(40)], NOW);
        const stored: StoredCert[] = [];
        for await (const s of store.certs.all()) stored.push(s);
        for (const s of stored) assert.deepEqual(s.digest, sksDigest(s.bytes));
        const listed: Buffer[] = [];
        for await (const d of store.digests.digests()) listed.push(d);
        assert.deepEqual(
          listed.map((d) => d.toString('hex')),
          stored.map((s) => s.digest.toString('hex')).sort(),
        );
        const pick = [stored[5], stored[0], stored[17]];
        const unknown = Buffer.alloc(16, 0xee);
        assert.deepEqual(
          (await store.digests.byDigest([pick[0].digest, unknown, pick[1].digest, pick[2].digest])).map((s) => s.fpr),
          pick.map((s) => s.fpr),
        );
        assert.deepEqual(await store.digests.byDigest([]), []);
        // After a merge the old digest is gone and the new one found.
        const before = (await store.certs.get(INDEX.dave.fpr))!.digest;
        await store.certs.put(fixture('merge/dave-b.pgp'), LATER);
        const after = (await store.certs.get(INDEX.dave.fpr))!.digest;
        assert.notDeepEqual(after, before);
        assert.deepEqual(await store.digests.byDigest([before]), []);
        assert.deepEqual(
          (await store.digests.byDigest([after])).map((s) => s.fpr),
          [INDEX.dave.fpr],
        );
        await store.certs.delete(INDEX.dave.fpr);
        assert.deepEqual(await store.digests.byDigest([after]), []);
      }),
    );
  });

  describe(`Store conformance: ${name}: user ID search`, () => {
    test(
      'substrings, case-insensitively for every script, short strings, in fingerprint order, limited',
      withFull(async (store) => {
        const greek = syntheticCert(['Σίσυφος Ünïcødé <sisyphus@example.org>']);
        const turkish = syntheticCert(['İSTANBUL "quoted" <ist@example.org>', 'Second ID <two@example.org>']);
        await store.certs.putMany([...fixtureRing(), greek, turkish], NOW);
        const fprs = async (text: string, limit = 100) => (await store.search.searchUserIds(text, limit)).map((s) => s.fpr);
        assert.deepEqual(await fprs('ALICE'), [INDEX.alice.fpr]);
        assert.deepEqual(await fprs('lice <alice@EXAMPLE.com'), [INDEX.alice.fpr]);
        assert.deepEqual(await fprs('σίσυφος'), [greek.primary.fpr]);
        assert.deepEqual(await fprs('ΣΊΣΥΦΟΣ'), [greek.primary.fpr]);
        assert.deepEqual(await fprs('ünïcødé'), [greek.primary.fpr]);
        assert.deepEqual(await fprs('ÜN'), [greek.primary.fpr], 'two characters');
        assert.deepEqual(await fprs('ï'), [greek.primary.fpr], 'one character');
        assert.deepEqual(await fprs('"quoted"'), [turkish.primary.fpr], 'quotes are text');
        assert.deepEqual(await fprs('i̇stanbul'), [turkish.primary.fpr], 'toLowerCase of İ');
        assert.deepEqual(await fprs('second id'), [turkish.primary.fpr], 'any user ID of the certificate');
        assert.deepEqual(await fprs('nobody at all'), []);
        // Every fixture with "example.com", in fingerprint order, then limited.
        const want = Object.values(INDEX)
          .filter((e) => e.uids.some((u) => u.toLowerCase().includes('example.com')))
          .map((e) => e.fpr)
          .sort();
        assert.ok(want.length > 5);
        assert.deepEqual(await fprs('EXAMPLE.COM'), want);
        assert.deepEqual(await fprs('example.com', 3), want.slice(0, 3));
        assert.deepEqual(await fprs('@', 2), (await fprs('@')).slice(0, 2));
        assert.equal((await fprs('@')).length, fixtureRing().length + 2);
        await assert.rejects(store.search.searchUserIds('', 10), (err: unknown) => err instanceof InputError && err.code === 'MS_STORE_SEARCH');
        await assert.rejects(store.search.searchUserIds('a\0b', 10), (err: unknown) => err instanceof InputError && err.code === 'MS_STORE_SEARCH' && /NUL/.test(err.message));
      }),
    );

    test(
      'search follows merge, replace and delete',
      withFull(async (store) => {
        await store.certs.put(fixture('dave.pgp'), NOW);
        const fprs = async (text: string) => (await store.search.searchUserIds(text, 10)).map((s) => s.fpr);
        assert.deepEqual(await fprs('work.example'), []);
        const merged = await store.certs.put(fixture('merge/dave-b.pgp'), NOW);
        assert.deepEqual(await fprs('WORK.example'), [INDEX.dave.fpr]);
        await store.certs.replace(INDEX.dave.fpr, merged.bytes, fixture('dave.pgp'), NOW);
        assert.deepEqual(await fprs('work.example'), []);
        assert.deepEqual(await fprs('dave@example.org'), [INDEX.dave.fpr]);
        await store.certs.delete(INDEX.dave.fpr);
        assert.deepEqual(await fprs('dave'), []);
        assert.deepEqual(await fprs('da'), []);
      }),
    );
  });

  describe(`Store conformance: ${name}: derived tables`, () => {
    test(
      'replace only at the current seq; stamp; lookup in the order given',
      withFull(async (store) => {
        assert.equal(await store.derived.stamp('t'), undefined);
        assert.deepEqual(await store.derived.lookup('t', 'k'), []);
        await store.certs.put(fixture('alice.pgp'), NOW);
        const seq = await store.changes.latest();
        const rows: Array<[string, string]> = [
          ['b', '1'],
          ['a', 'x'],
          ['b', '0'],
          ['ü', 'u'],
          ['b', '2'],
        ];
        assert.equal(await store.derived.replace('t', 'stamp-1', seq, rows), true);
        assert.deepEqual(await store.derived.stamp('t'), { stamp: 'stamp-1', seq });
        assert.deepEqual(await store.derived.lookup('t', 'b'), ['1', '0', '2']);
        assert.deepEqual(await store.derived.lookup('t', 'a'), ['x']);
        assert.deepEqual(await store.derived.lookup('t', 'ü'), ['u']);
        assert.deepEqual(await store.derived.lookup('t', 'B'), []);
        assert.deepEqual(await store.derived.lookup('other', 'b'), []);
        // Another table is independent.
        assert.equal(await store.derived.replace('other', 's', seq, [['b', 'o']]), true);
        assert.deepEqual(await store.derived.lookup('t', 'b'), ['1', '0', '2']);
        // A certificate write moves the seq on: a replace computed before it is refused.
        await store.certs.put(fixture('bob.pgp'), NOW);
        assert.equal(await store.derived.replace('t', 'stale', seq, [['z', 'z']]), false);
        assert.deepEqual(await store.derived.stamp('t'), { stamp: 'stamp-1', seq });
        assert.deepEqual(await store.derived.lookup('t', 'z'), []);
        // A write that changes nothing does not.
        const now = await store.changes.latest();
        assert.equal((await store.certs.put(fixture('bob.pgp'), LATER)).status, 'unchanged');
        await store.meta.setMeta('unrelated', '1');
        assert.equal(await store.changes.latest(), now);
        // The whole table is replaced.
        assert.equal(await store.derived.replace('t', 'stamp-2', now, [['a', 'y']]), true);
        assert.deepEqual(await store.derived.lookup('t', 'b'), []);
        assert.deepEqual(await store.derived.lookup('t', 'a'), ['y']);
        assert.deepEqual(await store.derived.stamp('t'), { stamp: 'stamp-2', seq: now });
        assert.equal(await store.derived.replace('t', 'empty', now, []), true);
        assert.deepEqual(await store.derived.lookup('t', 'a'), []);
        assert.deepEqual(await store.derived.stamp('t'), { stamp: 'empty', seq: now });
      }),
    );
  });

  describe(`Store conformance: ${name}: snapshots and verification results`, () => {
    test(
      'a snapshot holds strictly inside its window; several windows per key; replace',
      withFull(async (store) => {
        const key = randomBytes(32);
        assert.equal(await store.snapshots.get(key, NOW), undefined);
        assert.equal(await store.snapshots.put(key, { after: NOW, before: LATER }, Buffer.from('one')), true);
        const got = await store.snapshots.get(key, NOW + 1);
        assert.deepEqual(got, { data: Buffer.from('one'), window: { after: NOW, before: LATER } });
        assert.equal(await store.snapshots.get(key, NOW), undefined);
        assert.equal(await store.snapshots.get(key, LATER), undefined);
        assert.equal(await store.snapshots.get(randomBytes(32), NOW + 1), undefined);
        // Another window of the same key, unbounded after.
        assert.equal(await store.snapshots.put(key, { after: LATER - 1, before: Number.POSITIVE_INFINITY }, Buffer.from('two')), true);
        assert.deepEqual((await store.snapshots.get(key, LATER + 10 ** 9))?.data, Buffer.from('two'));
        assert.deepEqual((await store.snapshots.get(key, NOW + 1))?.data, Buffer.from('one'));
        const unbounded = randomBytes(32);
        await store.snapshots.put(unbounded, { after: Number.NEGATIVE_INFINITY, before: Number.POSITIVE_INFINITY }, Buffer.from('all'));
        assert.deepEqual(await store.snapshots.get(unbounded, 0), { data: Buffer.from('all'), window: { after: Number.NEGATIVE_INFINITY, before: Number.POSITIVE_INFINITY } });
        // Replaced under the same key and start.
        await store.snapshots.put(key, { after: NOW, before: LATER + 5 }, Buffer.from('three'));
        assert.deepEqual(await store.snapshots.get(key, LATER + 1), { data: Buffer.from('three'), window: { after: NOW, before: LATER + 5 } });
      }),
    );

    test(
      'verification results: batches of any size, a later outcome replaces an earlier one',
      withFull(async (store) => {
        const cache = store.verifications;
        assert.deepEqual(await cache.lookup([]), new Map());
        await cache.record([]);
        for (const n of [1, 2, 499, 500, 501, 1234]) {
          const keys = Array.from({ length: n }, () => randomBytes(32));
          const absent = Array.from({ length: 7 }, () => randomBytes(32));
          await cache.record(keys.map((k, i) => [k, i % 3 !== 0]));
          const found = await cache.lookup([...absent, ...keys, ...keys.slice(0, 3)]);
          assert.equal(found.size, n);
          keys.forEach((k, i) => {
            assert.equal(found.get(k.toString('hex')), i % 3 !== 0);
          });
          for (const k of absent) assert.equal(found.has(k.toString('hex')), false);
        }
        const k = randomBytes(32);
        await cache.record([[k, false]]);
        await cache.record([[k, true]]);
        assert.equal((await cache.lookup([k])).get(k.toString('hex')), true);
      }),
    );
  });

  describe(`Store conformance: ${name}: notes on certificates`, () => {
    test(
      'a note is read back only inside its window, beside the bytes it was computed from, and goes when they change',
      withFull(async (store) => {
        await store.certs.putMany(fixtureRing(), NOW);
        const dave = (await store.certs.get(INDEX.dave.fpr))!;
        const bob = (await store.certs.get(INDEX.bob.fpr))!;
        assert.deepEqual(await store.notes.get([dave, bob], NOW), new Map());
        assert.equal(await store.notes.put([]), 0);
        const n = await store.notes.put([
          { serial: dave.serial, digest: dave.digest, window: { after: NOW - 10, before: LATER }, data: Buffer.from('dave') },
          { serial: bob.serial, digest: bob.digest, window: { after: Number.NEGATIVE_INFINITY, before: Number.POSITIVE_INFINITY }, data: Buffer.from('bob') },
          // Computed from other bytes: not stored.
          { serial: bob.serial + 100_000, digest: bob.digest, window: { after: 0, before: LATER }, data: Buffer.from('none') },
        ]);
        assert.equal(n, 2);
        assert.deepEqual(
          await store.notes.get([dave, bob], NOW),
          new Map([
            [dave.serial, { data: Buffer.from('dave'), window: { after: NOW - 10, before: LATER } }],
            [bob.serial, { data: Buffer.from('bob'), window: { after: Number.NEGATIVE_INFINITY, before: Number.POSITIVE_INFINITY } }],
          ]),
        );
        assert.deepEqual([...(await store.notes.get([dave, bob], LATER)).keys()], [bob.serial], 'the window ends before LATER');
        assert.deepEqual([...(await store.notes.get([dave], NOW - 10)).keys()], [], 'and starts after NOW - 10');
        assert.deepEqual([...(await store.notes.get([bob], 0)).keys()], [bob.serial], 'an unbounded window');
        // A reader holding other bytes (another digest) gets no note.
        assert.equal((await store.notes.get([{ serial: dave.serial, digest: Buffer.alloc(16) }], NOW)).size, 0);
        // A note for a digest the certificate no longer has is refused.
        assert.equal(await store.notes.put([{ serial: dave.serial, digest: Buffer.alloc(16), window: { after: 0, before: LATER }, data: Buffer.from('old') }]), 0);
        assert.deepEqual((await store.notes.get([dave], NOW)).get(dave.serial)?.data, Buffer.from('dave'));
        // Replaced by a later note on the same bytes.
        assert.equal(await store.notes.put([{ serial: dave.serial, digest: dave.digest, window: { after: 0, before: LATER }, data: Buffer.from('dave 2') }]), 1);
        assert.deepEqual((await store.notes.get([dave], NOW)).get(dave.serial)?.data, Buffer.from('dave 2'));
        // New bytes for Dave: her note goes, in the same write; Bob's stays.
        const merged = await store.certs.put(fixture('merge/dave-b.pgp'), LATER);
        assert.equal(merged.status, 'updated');
        const daveNow = (await store.certs.get(INDEX.dave.fpr))!;
        assert.equal((await store.notes.get([daveNow], NOW)).size, 0);
        assert.equal((await store.notes.get([dave], NOW)).size, 0);
        assert.equal((await store.notes.get([bob], NOW)).size, 1);
        // Deleted: its note goes too.
        await store.certs.delete(INDEX.bob.fpr, LATER);
        assert.equal((await store.notes.get([bob], NOW)).size, 0);
        // A certificate stored again is a new serial with no note.
        await store.certs.put(fixture('bob.pgp'), LATER);
        const bobAgain = (await store.certs.get(INDEX.bob.fpr))!;
        assert.notEqual(bobAgain.serial, bob.serial);
        assert.equal((await store.notes.get([bobAgain], NOW)).size, 0);
      }),
    );
  });

  describe(`Store conformance: ${name}: read-only`, () => {
    test('a read-only store answers every read, refuses every write, and its caches keep nothing', async () => {
      const writable = await open();
      const key = randomBytes(32);
      const snap = randomBytes(32);
      await writable.certs.putMany(fixtureRing(), NOW);
      await writable.meta.setMeta('k', 'v');
      const seq = await writable.changes.latest();
      await writable.derived.replace('t', 's', seq, [['a', 'b']]);
      await writable.verifications.record([[key, true]]);
      await writable.snapshots.put(snap, { after: NOW, before: LATER }, Buffer.from('data'));
      const carol = (await writable.certs.get(INDEX.carol.fpr))!;
      assert.equal(await writable.notes.put([{ serial: carol.serial, digest: carol.digest, window: { after: NOW, before: LATER }, data: Buffer.from('note') }]), 1);
      assert.equal(writable.readonly, false);
      const store = await opts.reopenReadonly(writable);
      try {
        assert.equal(store.readonly, true);
        assert.equal(typeof store.location, 'string');
        // Reads.
        assert.equal(await store.certs.count(), fixtureRing().length);
        assert.deepEqual((await store.certs.get(INDEX.alice.fpr))?.bytes, publicBytes(fixture('alice.pgp')));
        assert.equal((await store.certs.getMany([INDEX.bob.fpr])).length, 1);
        assert.deepEqual(
          (await store.certs.byKeyId(INDEX.bob.fpr.slice(-8))).map((s) => s.fpr),
          [INDEX.bob.fpr],
        );
        assert.equal((await store.certs.byExactUserId('Bob <bob@example.com>')).length, 1);
        let n = 0;
        for await (const _ of store.certs.all()) n++;
        assert.equal(n, fixtureRing().length);
        assert.ok((await store.certifications.certifiedBy([INDEX.alice.fpr.slice(-16)])).length > 5);
        assert.equal((await store.certifications.certificationsOf(INDEX.bob.fpr)).length, 1);
        assert.equal(await store.changes.latest(), seq);
        assert.equal((await store.changes.since(0, 1000)).length, fixtureRing().length);
        const digests: Buffer[] = [];
        for await (const d of store.digests.digests()) digests.push(d);
        assert.equal(digests.length, fixtureRing().length);
        assert.equal((await store.digests.byDigest([digests[0]])).length, 1);
        assert.deepEqual(
          (await store.search.searchUserIds('BOB', 10)).map((s) => s.fpr),
          [INDEX.bob.fpr],
        );
        assert.equal(await store.meta.getMeta('k'), 'v');
        assert.deepEqual(await store.derived.stamp('t'), { stamp: 's', seq });
        assert.deepEqual(await store.derived.lookup('t', 'a'), ['b']);
        assert.equal((await store.verifications.lookup([key])).get(key.toString('hex')), true);
        assert.deepEqual((await store.snapshots.get(snap, NOW + 1))?.data, Buffer.from('data'));
        // Writes.
        const readonly = (err: unknown) => err instanceof EnvironmentError && err.code === 'MS_STORE_READONLY';
        const alice = await store.certs.get(INDEX.alice.fpr);
        await assert.rejects(store.certs.put(syntheticCerts(1)[0], NOW), readonly);
        await assert.rejects(store.certs.putMany([fixture('merge/dave-b.pgp')], NOW), readonly);
        await assert.rejects(store.certs.replace(INDEX.alice.fpr, alice!.bytes, fixture('alice.pgp'), NOW), readonly);
        await assert.rejects(store.certs.delete(INDEX.alice.fpr), readonly);
        await assert.rejects(store.meta.setMeta('k', 'w'), readonly);
        await assert.rejects(store.meta.deleteMeta('k'), readonly);
        await assert.rejects(store.derived.replace('t', 's2', seq, []), readonly);
        await assert.rejects(store.changes.prune(seq), readonly);
        // Caches: best effort, silently nothing.
        const other = randomBytes(32);
        await store.verifications.record([[other, true]]);
        assert.equal((await store.verifications.lookup([other])).size, 0);
        assert.equal(await store.snapshots.put(randomBytes(32), { after: NOW, before: LATER }, Buffer.from('x')), false);
        assert.deepEqual((await store.notes.get([carol], NOW + 1)).get(carol.serial)?.data, Buffer.from('note'));
        assert.equal(await store.notes.put([{ serial: carol.serial, digest: carol.digest, window: { after: NOW, before: LATER }, data: Buffer.from('other') }]), 0);
        assert.deepEqual((await store.notes.get([carol], NOW + 1)).get(carol.serial)?.data, Buffer.from('note'));
        // Nothing changed.
        assert.equal(await store.certs.count(), fixtureRing().length);
        assert.equal(await store.meta.getMeta('k'), 'v');
        assert.equal(await store.changes.latest(), seq);
      } finally {
        await store.close();
      }
    });
  });
}
