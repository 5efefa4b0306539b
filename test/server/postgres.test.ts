/**
 * The keyserver service on PostgreSQL (test/helpers/postgres.ts starts a real server): the
 * policy's store roles there, and two keyservers (as two stateless servers would) sharing one
 * database: uploads of halves of one certificate at once lose nothing, a certification held
 * by one is released by the other, a block made by one holds for the other.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import { dumpStore, importFiles } from '../../src/server/bulk.js';
import { Keyserver } from '../../src/server/keyserver.js';
import { PostgresStore } from '../../src/store/postgres/index.js';
import { FLOOD_CREATED, FLOOD_NOW, floodCertifications, Holder, syntheticKeyring, withSignatures } from '../helpers/flood.js';
import { PostgresServer } from '../helpers/postgres.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const server = new PostgresServer();
before(() => server.start());
after(() => server.stop());
const root = mkdtempSync(join(tmpdir(), 'ms-ks-pg-'));
after(() => rmSync(root, { recursive: true, force: true }));

const NOW = FLOOD_NOW;
const A = 'Alice <alice@example.org>';
const bob = new Holder('pg-bob', ['Bob <bob@example.org>']);
const carol = new Holder('pg-carol', ['Carol <carol@example.org>']);
const sigsOn = (cert: Cert, uid: string) => cert.users.find((u) => u.text === uid)?.signatures ?? [];

describe('keyserver on PostgreSQL', () => {
  test('two keyservers on one database: halves of a certificate at once, a release across servers, a block for both', async () => {
    const url = await server.database();
    const s1 = await PostgresStore.open(url);
    const s2 = await PostgresStore.open(url);
    try {
      const k1 = await Keyserver.open(s1);
      const k2 = await Keyserver.open(s2);
      await k1.submit(bob.bytes, { now: NOW });
      const alice = new Holder('pg-alice', [A, 'Alice Two <two@example.org>']);
      const halfA = withSignatures(readCerts(Buffer.concat([alice.cert.packets[0].raw, ...alice.cert.packets.slice(1, 3).map((p) => p.raw)])).certs[0], A, [bob.certify(alice.cert, A, FLOOD_CREATED + 5)]);
      const halfB = Buffer.concat([alice.cert.packets[0].raw, ...alice.cert.packets.slice(3).map((p) => p.raw)]);
      const [r1, r2] = await Promise.all([k1.submit(halfA, { now: NOW }), k2.submit(halfB, { now: NOW })]);
      assert.deepEqual([r1.certs[0].status, r2.certs[0].status].sort(), ['inserted', 'updated']);
      const both = (await s1.certs.get(alice.fpr))!.cert;
      assert.equal(both.users.length, 2, 'both halves stored');
      assert.equal(sigsOn(both, A).length, 2, 'self-signature and bob’s certification');
      // Held by one server, released by the other.
      const held = await k1.submit(withSignatures(alice.cert, A, [carol.certify(alice.cert, A, FLOOD_CREATED + 6)]), { now: NOW });
      assert.equal(held.certs[0].held, 1);
      assert.equal((await k2.submit(carol.bytes, { now: NOW })).certs[0].released, 1);
      assert.ok(sigsOn((await s1.certs.get(alice.fpr))!.cert, A).some((e) => e.sig?.issuerFingerprints.includes(carol.fpr)));
      assert.equal(await s2.held.count(alice.fpr), 0);
      // A block made through one holds for the other.
      await k1.block(alice.fpr, 'takedown', NOW + 1);
      assert.equal((await k2.submit(alice.bytes, { now: NOW + 2 })).certs[0].status, 'blocked');
      assert.equal(await s2.certs.get(alice.fpr), undefined);
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  test('a flooded certificate (20,000 certifications by unknown keys) is stored within budget', async () => {
    const store = await PostgresStore.open(await server.database());
    try {
      const ks = await Keyserver.open(store);
      const victim = new Holder('pg-victim', [A]);
      const junk = floodCertifications(victim.cert, A, 20_000, { seed: 'pg-junk', newest: NOW - 86400 });
      await ks.submit(bob.bytes, { now: NOW });
      const out = (await ks.submit(withSignatures(victim.cert, A, [...junk, bob.certify(victim.cert, A, FLOOD_CREATED + 3)]), { now: NOW })).certs[0];
      assert.equal(out.kept.certifications, 1);
      assert.equal(out.held, ks.policy.maxHeld);
      assert.equal(await store.held.count(victim.fpr), ks.policy.maxHeld);
      assert.ok((await store.certs.get(victim.fpr))!.bytes.length < 1000);
    } finally {
      await store.close();
    }
  });

  test('bulk import and dump', async () => {
    const store = await PostgresStore.open(await server.database());
    try {
      const file = join(root, 'ring.pgp');
      writeFileSync(file, syntheticKeyring(300, 'pg-ring'));
      const r = await importFiles(await Keyserver.open(store), [file], { now: NOW, batchSize: 64 });
      assert.deepEqual(r.status, { inserted: 300 });
      const { certs } = await dumpStore(store, join(root, 'dump'), { certsPerFile: 100 });
      assert.equal(certs, 300);
      // The second certificate onwards is certified by the ones before it, in the same file.
      const second = (await store.certs.byExactUserId('Member 5 <m5@pg-ring.example>'))[0].cert;
      assert.equal(sigsOn(second, 'Member 5 <m5@pg-ring.example>').length, 3);
    } finally {
      await store.close();
    }
  });
});
