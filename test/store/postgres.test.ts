/**
 * The PostgreSQL store on a real server started for these tests (test/helpers/postgres.ts):
 * the conformance suite every store runs, then what only a server database has: processes
 * opening a new database at once, concurrent writers merging halves of one certificate,
 * read-only connections, a schema newer than the code, and a server that is not there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { refreshBindings } from '../../src/auth/compute.js';
import { generateCore, trustSign } from '../../src/auth/core.js';
import { AuthStore } from '../../src/auth/store.js';
import { EnvironmentError } from '../../src/errors.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { deriveIndexes } from '../../src/store/derive.js';
import { openStore } from '../../src/store/index.js';
import { PostgresStore, SCHEMA_VERSION } from '../../src/store/postgres/index.js';
import { NOW as AUTH_NOW, Person } from '../auth/pki.js';
import { PostgresServer } from '../helpers/postgres.js';
import { fixture, fixtureRing, INDEX, NOW, publicBytes, storeSuite } from './cert-store.suite.js';
import { keyserverSuite } from './held.suite.js';
import { reconTreeSuite } from './recon-tree.suite.js';

const server = new PostgresServer();
before(() => server.start());
after(() => server.stop());

storeSuite('postgresql', async () => PostgresStore.open(await server.database()), {
  async reopenReadonly(store) {
    const url = (store as PostgresStore).database.url;
    await store.close();
    return PostgresStore.open(url, { readonly: true });
  },
});
keyserverSuite('postgresql', async () => PostgresStore.open(await server.database()), async (store) => {
  const url = (store as PostgresStore).database.url;
  await store.close();
  return PostgresStore.open(url, { readonly: true });
});

reconTreeSuite('postgresql', async () => PostgresStore.open(await server.database()), (store) => PostgresStore.open((store as PostgresStore).database.url));

describe('PostgresStore', () => {
  test('openStore picks PostgreSQL for postgresql:// URLs; the location hides a password', async () => {
    const url = await server.database();
    const store = await openStore(url);
    try {
      assert.ok(store instanceof PostgresStore);
      await store.certs.put(fixture('alice.pgp'), NOW);
      assert.equal(await store.certs.count(), 1);
    } finally {
      await store.close();
    }
    const withPassword = url.replace('postgres@', 'postgres:s3cret@');
    const again = await openStore(withPassword);
    try {
      assert.doesNotMatch(again.location, /s3cret/);
    } finally {
      await again.close();
    }
  });

  test('user ID search has its trigram index (pg_trgm, from postgresql-contrib) and uses it', async () => {
    const url = await server.database();
    const store = await PostgresStore.open(url);
    try {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const idx = (await c.query("SELECT indexname FROM pg_indexes WHERE tablename = 'cert_text'")).rows.map((r) => r.indexname);
      assert.ok(idx.includes('cert_text_trgm'), `indexes: ${idx.join(', ')}`);
      await c.query('SET enable_seqscan = off');
      const plan = (await c.query("EXPLAIN SELECT cert_id FROM cert_text WHERE folded LIKE '%alice%'")).rows.map((r) => r['QUERY PLAN']).join('\n');
      await c.end();
      assert.match(plan, /cert_text_trgm/);
    } finally {
      await store.close();
    }
  });

  test('the authentication store runs on it: the same bindings, looked up after a recomputation', async () => {
    const store = await AuthStore.open(await server.database());
    try {
      const { core } = generateCore(AUTH_NOW);
      await store.putCerts([core.cert], AUTH_NOW);
      await store.setCore(core.primary.fpr);
      const admin = new Person(['Admin <admin@example.net>']);
      const bob = new Person(['Bob <bob@example.net>']).certifiedBy(admin);
      await store.putCerts([admin.cert, trustSign(core, admin.cert, ['Admin <admin@example.net>'], { now: AUTH_NOW, depth: 1, amount: 120 }), bob.cert], AUTH_NOW);
      assert.ok(await refreshBindings(store, AUTH_NOW));
      assert.ok(await store.isFresh(AUTH_NOW));
      assert.deepEqual((await store.bindingsFor('Bob <bob@example.net>')).map((r) => [r.fpr, r.validity, r.keys]), [[bob.fpr, 'f', [bob.sshKey]]]);
      await store.putCerts([bob.revokeKey(AUTH_NOW - 10)], AUTH_NOW);
      assert.equal(await store.isFresh(AUTH_NOW), false, 'a change makes the bindings stale');
      await refreshBindings(store, AUTH_NOW);
      assert.deepEqual((await store.bindingsFor('Bob <bob@example.net>')).map((r) => r.keys), [[]]);
    } finally {
      await store.close();
    }
  });

  test('several processes opening a new database at once migrate it once', async () => {
    const url = await server.database();
    const stores = await Promise.all(Array.from({ length: 6 }, () => PostgresStore.open(url)));
    try {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const rows = (await c.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
      await c.end();
      assert.deepEqual(rows, Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('schema 2 to 3: the address index is filled from the stored user IDs', async () => {
    const url = await server.database();
    const w = await PostgresStore.open(url);
    await w.certs.putMany(fixtureRing(), NOW);
    await w.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('DROP TABLE cert_addresses');
    await c.query('DELETE FROM schema_migrations WHERE version >= 3');
    await c.end();
    const store = await PostgresStore.open(url);
    try {
      assert.deepEqual(
        (await store.certs.byAddress('ALICE@example.com', 10)).map((s) => s.fpr),
        [INDEX.alice.fpr],
      );
      for (const cert of fixtureRing()) {
        for (const a of deriveIndexes(cert).addresses) assert.ok((await store.certs.byAddress(a, 10)).some((s) => s.fpr === cert.primary.fpr), a);
      }
    } finally {
      await store.close();
    }
  });

  test('two stores putting halves of one certificate at once lose nothing', async () => {
    const url = await server.database();
    const [a, b] = await Promise.all([PostgresStore.open(url), PostgresStore.open(url)]);
    try {
      const halfA = fixture('dave.pgp');
      const halfB = fixture('merge/dave-b.pgp');
      await Promise.all([a.certs.put(halfA, NOW), b.certs.put(halfB, NOW)]);
      const stored = await a.certs.get(INDEX.dave.fpr);
      assert.ok(stored);
      const packets = new Set(readCerts(stored.bytes).certs[0].packets.map((p) => p.body.toString('hex')));
      for (const half of [halfA, halfB]) for (const p of readCerts(publicBytes(half)).certs[0].packets) assert.ok(packets.has(p.body.toString('hex')), 'every packet of both halves is stored');
      assert.equal(await a.changes.latest(), 2, 'two changes, one after the other');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a read-only store reads, refuses writes before the server does, and the server refuses them too', async () => {
    const url = await server.database();
    const w = await PostgresStore.open(url);
    await w.certs.put(fixture('bob.pgp'), NOW);
    await w.close();
    const ro = await PostgresStore.open(url, { readonly: true });
    try {
      assert.equal((await ro.certs.get(INDEX.bob.fpr))?.fpr, INDEX.bob.fpr);
      await assert.rejects(ro.certs.put(fixture('alice.pgp'), NOW), (e: unknown) => e instanceof EnvironmentError && e.code === 'MS_STORE_READONLY');
      await assert.rejects(
        ro.database.query('x', 'INSERT INTO meta (key, value) VALUES ($1, $2)', ['k', 'v']),
        (e: unknown) => e instanceof EnvironmentError && e.code === 'MS_STORE_READONLY',
      );
    } finally {
      await ro.close();
    }
  });

  test('a schema newer than this program is refused; an older one cannot be read read-only', async () => {
    const url = await server.database();
    const store = await PostgresStore.open(url);
    await store.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('INSERT INTO schema_migrations (version, applied) VALUES ($1, 0)', [SCHEMA_VERSION + 1]);
    await c.end();
    await assert.rejects(PostgresStore.open(url), (e: unknown) => e instanceof EnvironmentError && e.code === 'MS_STORE_SCHEMA' && /newer/.test(e.message));
    const empty = await server.database();
    await assert.rejects(PostgresStore.open(empty, { readonly: true }), (e: unknown) => e instanceof EnvironmentError && e.code === 'MS_STORE_SCHEMA');
  });

  test('a server that is not there is MS_STORE_IO, naming the URL without its password', async () => {
    const url = 'postgresql://monkey:hunter2@/nodb?host=/nonexistent-socket-dir';
    await assert.rejects(PostgresStore.open(url), (e: unknown) => e instanceof EnvironmentError && e.code === 'MS_STORE_IO' && e.message.includes('nonexistent-socket-dir') && !e.message.includes('hunter2'));
  });
});
