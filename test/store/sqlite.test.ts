/**
 * The SQLite store: the conformance suite, then what only a file database has: reopening, pragmas and
 * schema versions, two connections and two processes at once, a writer killed mid-transaction, the
 * verification cache table, lazy parsing, snapshot pruning, and an unprivileged reader of a
 * root-owned file. Migrations from schema 1 are in sqlite-migration.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { EnvironmentError, TemporaryError } from '../../src/errors.js';
import { writeCerts } from '../../src/openpgp/cert.js';
import { SCHEMA_VERSION, SNAPSHOTS_KEPT, SqliteCertStore, SqliteDatabase, SqliteMetaStore, SqliteStore, SqliteVerificationCache } from '../../src/store/sqlite/index.js';
import { fixture, fixtureRing, INDEX, NOW, publicBytes, storeSuite, syntheticCerts } from './cert-store.suite.js';
import { keyserverSuite } from './held.suite.js';
import { reconTreeSuite } from './recon-tree.suite.js';

const root = mkdtempSync(join(tmpdir(), 'ms-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshPath = () => join(root, `db-${++counter}.sqlite`);

storeSuite('sqlite', () => SqliteStore.open(freshPath()), {
  async reopenReadonly(store) {
    await store.close();
    return SqliteStore.open(store.location, { readonly: true });
  },
});
keyserverSuite('sqlite', () => SqliteStore.open(freshPath()), async (store) => {
  await store.close();
  return SqliteStore.open(store.location, { readonly: true });
});

reconTreeSuite('sqlite', () => SqliteStore.open(freshPath()), (store) => SqliteStore.open(store.location));

const CHILD = new URL('./sqlite-child.ts', import.meta.url).pathname;

const CHILD_TIMEOUT_MS = 120_000;

function runChild(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    // A child stuck on a lock should fail the test with what it said, not stall the suite.
    const deadline = setTimeout(() => {
      err += `\n(killed after ${CHILD_TIMEOUT_MS} ms)`;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('close', () => clearTimeout(deadline));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (onLine) for (const line of d.toString().split('\n')) if (line) onLine(line, () => child.kill('SIGKILL'));
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

describe('SqliteDatabase', () => {
  test('sets WAL, synchronous=NORMAL, a busy timeout and the schema version', () => {
    const db = SqliteDatabase.open(freshPath(), { busyTimeoutMs: 1234 });
    try {
      assert.equal(db.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.db.pragma('synchronous', { simple: true }), 1);
      assert.equal(db.db.pragma('busy_timeout', { simple: true }), 1234);
      assert.equal(db.db.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(db.schemaVersion, SCHEMA_VERSION);
      assert.deepEqual(db.integrityCheck(), ['ok']);
    } finally {
      db.close();
    }
  });

  test('limited: the LIMIT written into the SQL, one statement per limit, rounded down and capped', () => {
    const db = SqliteDatabase.open(freshPath());
    try {
      db.db.exec('CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2), (3), (4), (5)');
      const upTo = db.limited<[number], { n: number }>((limit) => `SELECT n FROM t WHERE n >= ? ORDER BY n LIMIT ${limit}`);
      const rows = (limit: number) => upTo(limit).all(2).map((r) => r.n);
      assert.deepEqual(rows(2), [2, 3]);
      assert.deepEqual(rows(0), []);
      assert.deepEqual(rows(2.9), [2, 3], 'rounded down');
      assert.deepEqual(rows(1e20), [2, 3, 4, 5], 'capped, not refused');
      assert.equal(upTo(2), upTo(2), 'prepared once per limit');
      // More limits than are kept: each still answers rightly.
      for (let i = 0; i < 20; i++) assert.deepEqual(rows(i % 10), [2, 3, 4, 5].slice(0, i % 10));
      assert.throws(() => upTo(Number.NaN), RangeError);
      assert.throws(() => upTo(-1), RangeError);
    } finally {
      db.close();
    }
  });

  test('the rollback journal, for files read by users who cannot write their directory', async () => {
    const path = freshPath();
    const db = SqliteDatabase.open(path, { journal: 'rollback' });
    try {
      assert.equal(db.db.pragma('journal_mode', { simple: true }), 'delete');
      assert.equal(db.db.pragma('synchronous', { simple: true }), 2);
      await new SqliteCertStore(db).put(fixture('alice.pgp'), NOW);
    } finally {
      db.close();
    }
    const ro = SqliteDatabase.open(path, { readonly: true });
    try {
      assert.equal(ro.db.pragma('journal_mode', { simple: true }), 'delete');
      assert.ok(await new SqliteCertStore(ro).get(INDEX.alice.fpr));
    } finally {
      ro.close();
    }
    // And back to WAL when opened for writing with the default.
    const again = SqliteDatabase.open(path);
    assert.equal(again.db.pragma('journal_mode', { simple: true }), 'wal');
    again.close();
  });

  test('reopening after close keeps certificates, meta and cached outcomes', async () => {
    const path = freshPath();
    const key = randomBytes(32);
    {
      const db = SqliteDatabase.open(path);
      await new SqliteCertStore(db).putMany(fixtureRing(), NOW);
      await new SqliteMetaStore(db).setMeta('k', 'v');
      await new SqliteVerificationCache(db).record([[key, true]]);
      db.close();
    }
    const db = SqliteDatabase.open(path);
    try {
      const store = new SqliteCertStore(db);
      assert.equal(await store.count(), fixtureRing().length);
      assert.deepEqual((await store.get(INDEX.carol.fpr))?.bytes, publicBytes(fixture('carol.pgp')));
      assert.equal(await new SqliteMetaStore(db).getMeta('k'), 'v');
      assert.deepEqual(await new SqliteVerificationCache(db).lookup([key]), new Map([[key.toString('hex'), true]]));
    } finally {
      db.close();
    }
  });

  test('a database from a newer schema is refused', () => {
    const path = freshPath();
    SqliteDatabase.open(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(
      () => SqliteDatabase.open(path),
      (err: unknown) => err instanceof EnvironmentError && err.code === 'MS_STORE_SCHEMA',
    );
  });

  test('an old schema is upgraded in place; read-only opening refuses to', () => {
    const path = freshPath();
    new Database(path).close();
    assert.throws(
      () => SqliteDatabase.open(path, { readonly: true }),
      (err: unknown) => err instanceof EnvironmentError && err.code === 'MS_STORE_SCHEMA',
    );
    const db = SqliteDatabase.open(path);
    assert.equal(db.schemaVersion, SCHEMA_VERSION);
    db.close();
    const ro = SqliteDatabase.open(path, { readonly: true });
    assert.equal(ro.schemaVersion, SCHEMA_VERSION);
    ro.close();
  });

  test('file problems are environment errors', () => {
    assert.throws(
      () => SqliteDatabase.open(join(root, 'missing', 'x.sqlite')),
      (err: unknown) => err instanceof EnvironmentError && err.code === 'MS_STORE_IO',
    );
    assert.throws(
      () => SqliteDatabase.open(join(root, 'absent.sqlite'), { readonly: true }),
      (err: unknown) => err instanceof EnvironmentError && err.code === 'MS_STORE_IO',
    );
    const junk = join(root, 'junk.sqlite');
    writeFileSync(junk, Buffer.alloc(8192, 0x41));
    assert.throws(
      () => SqliteDatabase.open(junk),
      (err: unknown) => err instanceof EnvironmentError && err.code === 'MS_STORE_CORRUPT',
    );
  });

  test('two connections to one file see each other’s writes', async () => {
    const path = freshPath();
    const a = SqliteDatabase.open(path);
    const b = SqliteDatabase.open(path);
    try {
      const sa = new SqliteCertStore(a);
      const sb = new SqliteCertStore(b);
      await sa.put(fixture('alice.pgp'), NOW);
      assert.ok(await sb.get(INDEX.alice.fpr));
      await sb.put(fixture('merge/dave-b.pgp'), NOW);
      await sa.put(fixture('dave.pgp'), NOW);
      const merged = await sb.get(INDEX.dave.fpr);
      assert.equal(merged?.cert.users.length, 2);
      // A reader in the middle of a read transaction keeps its snapshot while the other connection writes (WAL).
      b.db.exec('BEGIN');
      assert.equal(await sb.count(), 2);
      await sa.put(fixture('bob.pgp'), NOW);
      assert.equal(await sb.count(), 2);
      b.db.exec('COMMIT');
      assert.equal(await sb.count(), 3);
    } finally {
      a.close();
      b.close();
    }
  });

  test('a writer that cannot get the lock fails with a temporary error', async () => {
    const path = freshPath();
    const a = SqliteDatabase.open(path);
    const b = SqliteDatabase.open(path, { busyTimeoutMs: 20 });
    try {
      a.db.exec('BEGIN IMMEDIATE');
      await assert.rejects(
        new SqliteCertStore(b).put(fixture('alice.pgp'), NOW),
        (err: unknown) => err instanceof TemporaryError && err.code === 'MS_STORE_BUSY',
      );
      a.db.exec('ROLLBACK');
      assert.equal((await new SqliteCertStore(b).put(fixture('alice.pgp'), NOW)).status, 'inserted');
    } finally {
      a.close();
      b.close();
    }
  });

  test('two processes creating and filling one new file at once', async () => {
    const path = freshPath();
    const ring = fixtureRing();
    const extra = syntheticCerts(200);
    const fileA = join(root, 'half-a.pgp');
    const fileB = join(root, 'half-b.pgp');
    // Both halves hold dave, in its two versions, so both processes merge into the same row.
    writeFileSync(fileA, Buffer.concat([writeCerts([...ring.slice(0, 10), ...extra.slice(0, 100)]), publicBytes(fixture('merge/dave-b.pgp'))]));
    writeFileSync(fileB, writeCerts([...ring.slice(10), ...extra.slice(100)]));
    const [ra, rb] = await Promise.all([runChild(['put', path, fileA]), runChild(['put', path, fileB])]);
    assert.equal(ra.code, 0, ra.err);
    assert.equal(rb.code, 0, rb.err);
    const db = SqliteDatabase.open(path);
    try {
      assert.deepEqual(db.integrityCheck(), ['ok']);
      const store = new SqliteCertStore(db);
      assert.equal(await store.count(), ring.length + extra.length);
      assert.equal((await store.get(INDEX.dave.fpr))?.cert.users.length, 2);
    } finally {
      db.close();
    }
  });

  test('a writer killed in the middle of a big transaction leaves the old data intact', async () => {
    const path = freshPath();
    const before = fixtureRing();
    {
      const db = SqliteDatabase.open(path);
      await new SqliteCertStore(db).putMany(before, NOW);
      db.db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    }
    const big = join(root, 'big.pgp');
    // dave-b first: the killed transaction also merges into an existing row.
    writeFileSync(big, Buffer.concat([publicBytes(fixture('merge/dave-b.pgp')), writeCerts(syntheticCerts(3000))]));
    let walDuringTx = 0;
    const r = await runChild(['crash', path, big, '2500'], (line, kill) => {
      if (line === 'mid') {
        walDuringTx = statSync(`${path}-wal`).size;
        kill();
      }
    });
    assert.equal(r.signal, 'SIGKILL', r.err);
    assert.doesNotMatch(r.out, /finished/);
    // The transaction had spilled uncommitted pages into the WAL before it died.
    assert.ok(walDuringTx > 64 * 1024, `WAL size ${walDuringTx}`);

    const db = SqliteDatabase.open(path);
    try {
      assert.deepEqual(db.integrityCheck(), ['ok']);
      const store = new SqliteCertStore(db);
      assert.equal(await store.count(), before.length);
      for (const c of before) assert.deepEqual((await store.get(c.primary.fpr))?.bytes, publicBytes(c));
      assert.equal((await store.get(INDEX.dave.fpr))?.cert.users.length, 1);
      assert.deepEqual(await store.byExactUserId('Dave <dave@work.example>'), []);
      // And it still takes writes.
      assert.equal((await store.put(fixture('merge/dave-b.pgp'), NOW)).status, 'updated');
    } finally {
      db.close();
    }
  });
});

describe('SqliteVerificationCache', () => {
  test('records and looks up outcomes in batches of any size', async () => {
    const db = SqliteDatabase.open(freshPath());
    try {
      const cache = new SqliteVerificationCache(db);
      for (const n of [0, 1, 2, 499, 500, 501, 1234]) {
        await cache.clear();
        const keys = Array.from({ length: n }, () => randomBytes(32));
        const absent = Array.from({ length: 7 }, () => randomBytes(32));
        await cache.record(keys.map((k, i) => [k, i % 3 !== 0]));
        assert.equal(await cache.size(), n);
        const found = await cache.lookup([...absent, ...keys, ...keys.slice(0, 3)]);
        assert.equal(found.size, n);
        keys.forEach((k, i) => {
          assert.equal(found.get(k.toString('hex')), i % 3 !== 0);
        });
        for (const k of absent) assert.equal(found.has(k.toString('hex')), false);
      }
    } finally {
      db.close();
    }
  });

  test('a later outcome replaces an earlier one', async () => {
    const db = SqliteDatabase.open(freshPath());
    try {
      const cache = new SqliteVerificationCache(db);
      const k = randomBytes(32);
      await cache.record([[k, false]]);
      await cache.record([[k, true]]);
      assert.equal((await cache.lookup([k])).get(k.toString('hex')), true);
      assert.equal(await cache.size(), 1);
    } finally {
      db.close();
    }
  });
});

describe('SqliteStore', () => {
  test('stored certificates parse only when asked: a row that no longer parses is still listed and served', async () => {
    const store = await SqliteStore.open(freshPath());
    try {
      await store.certs.putMany(fixtureRing(), NOW);
      // Damage one stored row behind the store's back: a truncated packet.
      const bad = INDEX.bob.fpr;
      store.database.db.prepare('UPDATE certs SET data = substr(data, 1, 20) WHERE fpr = ?').run(bad);
      const got = await store.certs.get(bad);
      assert.ok(got);
      assert.equal(got.bytes.length, 20);
      assert.throws(
        () => got.cert,
        (err: unknown) => err instanceof EnvironmentError && err.code === 'MS_STORE_CORRUPT',
      );
      let n = 0;
      for await (const s of store.certs.all()) {
        n++;
        assert.ok(s.bytes.length > 0);
      }
      assert.equal(n, fixtureRing().length);
      assert.equal((await store.certs.getMany([bad, INDEX.alice.fpr])).length, 2);
      assert.equal((await store.digests.byDigest([got.digest])).length, 1);
      assert.equal((await store.certs.byKeyId(bad.slice(-16)))[0].bytes.length, 20);
    } finally {
      await store.close();
    }
  });

  test(`snapshots: at most ${SNAPSHOTS_KEPT} kept, the least recently used go first`, async () => {
    const store = await SqliteStore.open(freshPath());
    try {
      const keys = Array.from({ length: SNAPSHOTS_KEPT + 3 }, () => randomBytes(32));
      const window = { after: NOW - 10, before: NOW + 10 };
      for (const k of keys.slice(0, SNAPSHOTS_KEPT)) assert.equal(await store.snapshots.put(k, window, k), true);
      // Use the oldest: it becomes the most recent.
      assert.ok(await store.snapshots.get(keys[0], NOW));
      for (const k of keys.slice(SNAPSHOTS_KEPT)) await store.snapshots.put(k, window, k);
      const kept = [];
      for (const k of keys) if (await store.snapshots.get(k, NOW)) kept.push(keys.indexOf(k));
      assert.equal(kept.length, SNAPSHOTS_KEPT);
      assert.ok(kept.includes(0), 'the one used stays');
      assert.ok(!kept.includes(1) && !kept.includes(2) && !kept.includes(3), `kept ${kept}`);
    } finally {
      await store.close();
    }
  });

  test('user ID search of 3 or more characters uses the trigram index', async () => {
    const store = await SqliteStore.open(freshPath());
    try {
      const plan = store.database.db
        .prepare(
          'EXPLAIN QUERY PLAN SELECT t.cert_id FROM cert_text_fts f JOIN cert_text t ON t.id = f.rowid WHERE cert_text_fts MATCH ? AND instr(t.folded, ?) > 0',
        )
        .all('"abc"', 'abc') as Array<{ detail: string }>;
      assert.ok(
        plan.some((r) => /VIRTUAL TABLE INDEX/.test(r.detail)),
        JSON.stringify(plan),
      );
    } finally {
      await store.close();
    }
  });

  test('an unprivileged user reads a root-owned store (rollback journal) in a directory it cannot write', async () => {
    // The suite runs as root (README, Tests): only root can make the file root-owned and run the reader as nobody.
    assert.equal(process.getuid?.(), 0, 'run the tests as root');
    const dir = join(root, `root-owned-${++counter}`);
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(root, 0o755);
    const path = join(dir, 'store.sqlite');
    const store = await SqliteStore.open(path, { journal: 'rollback' });
    await store.certs.putMany(fixtureRing(), NOW);
    await store.meta.setMeta('k', 'v');
    await store.derived.replace('t', 's', await store.changes.latest(), [['a', 'b']]);
    await store.verifications.record([[Buffer.alloc(32, 7), true]]);
    await store.close();
    chmodSync(path, 0o644);
    const r = await runChildAs(65534, ['read', path, INDEX.alice.fpr.slice(-16), 'BOB']);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out);
    assert.equal(out.error, undefined, r.out);
    assert.equal(out.readonly, true);
    assert.equal(out.count, fixtureRing().length);
    assert.equal(out.fprs.length, fixtureRing().length);
    assert.equal(out.digests, fixtureRing().length);
    assert.ok(out.parsed);
    assert.ok(out.certifiedBy.includes(INDEX.bob.fpr));
    assert.deepEqual(out.search, [INDEX.bob.fpr]);
    assert.equal(out.latest, fixtureRing().length);
    assert.equal(out.meta, 'v');
    assert.deepEqual(out.derived, ['b']);
    assert.deepEqual(out.cached, [true]);
    assert.equal(out.write, 'MS_STORE_READONLY');
  });
});

function runChildAs(uid: number, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      uid,
      gid: uid,
      cwd: new URL('../..', import.meta.url).pathname,
      env: { ...process.env, HOME: '/nonexistent' },
      timeout: CHILD_TIMEOUT_MS,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
