/**
 * Migrations of the SQLite store from schema 1 (the store before the one-store change, with the
 * authentication module's auth_* tables and its triggers on `certs`): a real file written by
 * that code (test/fixtures/auth-store-v1) and bigger ones built here with the schema-1 SQL read
 * back from that file. Every certificate, meta value and cached outcome survives, the new
 * indexes are backfilled, the triggers are gone; the auth_* tables go too, their trust core moving to
 * meta (`auth.core`, the authentication module's choice); a read-only open refuses an old schema
 * with a hint.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { EnvironmentError } from '../../src/errors.js';
import { readCerts, writeCerts } from '../../src/openpgp/cert.js';
import { keyIdOf } from '../../src/openpgp/fingerprint.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import { deriveIndexes, reverse } from '../../src/store/derive.js';
import { SCHEMA_VERSION, SqliteStore } from '../../src/store/sqlite/index.js';
import { fixture, fixtureRing, INDEX, NOW, publicBytes, syntheticCerts } from './cert-store.suite.js';

const root = mkdtempSync(join(tmpdir(), 'ms-store-migration-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

const FIXTURE_TAR = new URL('../fixtures/auth-store-v1/auth-store-v1.tar', import.meta.url).pathname;

/** The store file of test/fixtures/auth-store-v1, written by the code of commit 2b452ca, extracted afresh. */
function realV1Store(): string {
  const dir = join(root, `real-${++counter}`);
  mkdirSync(dir);
  const untar = spawnSync('tar', ['-xf', FIXTURE_TAR, '-C', dir, './server/var/authentication/store.sqlite'], { encoding: 'utf8' });
  assert.equal(untar.status, 0, untar.stderr);
  return join(dir, 'server/var/authentication/store.sqlite');
}

/**
 * The schema-1 SQL as the old code wrote it, read back from the real file: the store's tables,
 * the authentication module's tables and its triggers on `certs`; with `store: true` only
 * the store's own tables.
 */
function v1Schema(opts: { store?: boolean } = {}): string {
  const db = new Database(realV1Store(), { readonly: true });
  try {
    const rows = db.prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type = 'trigger', type = 'index', rowid").all() as Array<{ type: string; name: string; sql: string }>;
    return rows
      .filter((r) => !opts.store || !r.name.startsWith('auth'))
      .map((r) => `${r.sql};`)
      .join('\n');
  } finally {
    db.close();
  }
}

/** The snapshots table as schema 1 created it on demand: the same definition schema 2 keeps. */
async function snapshotsSchema(): Promise<string> {
  const store = await SqliteStore.open(join(root, `snapshots-${++counter}.sqlite`));
  try {
    return (store.database.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'snapshots'").get() as { sql: string }).sql;
  } finally {
    await store.close();
  }
}

const CHILD = new URL('./sqlite-child.ts', import.meta.url).pathname;

function runChild(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, err }));
  });
}

type Dump = Record<string, unknown[]>;

/** Every row of the tables that must survive, in a stable order. */
function dump(path: string, tables: string[]): Dump {
  const db = new Database(path, { readonly: true });
  try {
    const out: Dump = {};
    const key = (r: unknown) => JSON.stringify(r, (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
    for (const t of tables) out[t] = db.prepare(`SELECT * FROM ${t}`).all().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return out;
  } finally {
    db.close();
  }
}

function triggers(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
  } finally {
    db.close();
  }
}

function userVersion(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

/** The certificates of a schema-1 file as stored: id, fpr, bytes, times. */
function certRows(path: string): Array<{ id: number; fpr: string; data: Buffer; created: number; updated: number }> {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT id, fpr, data, created, updated FROM certs ORDER BY id').all() as Array<{ id: number; fpr: string; data: Buffer; created: number; updated: number }>;
  } finally {
    db.close();
  }
}

/** Checks a migrated store against the schema-1 rows it came from. */
async function checkMigrated(path: string, before: ReturnType<typeof certRows>, feedBefore = 0): Promise<void> {
  const store = await SqliteStore.open(path);
  try {
    assert.equal(store.database.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(store.database.integrityCheck(), ['ok']);
    assert.equal(await store.certs.count(), before.length);
    for (const row of before) {
      const got = await store.certs.get(row.fpr);
      assert.ok(got, row.fpr);
      assert.deepEqual(got.bytes, row.data);
      assert.equal(got.serial, row.id);
      assert.equal(got.created, row.created);
      assert.equal(got.updated, row.updated);
      assert.deepEqual(got.digest, sksDigest(row.data));
      assert.deepEqual(
        (await store.digests.byDigest([got.digest])).map((s) => s.fpr),
        [row.fpr],
      );
      const d = deriveIndexes(got.cert);
      assert.deepEqual(
        (await store.certifications.certificationsOf(row.fpr)).map((r) => [r.issuer, r.trust, r.targetSerial]),
        d.issuers.map((i) => [i.issuer, i.trust, row.id]),
      );
      for (const k of d.keys) assert.ok((await store.certs.byKeyId(k.keyId)).some((s) => s.fpr === row.fpr), k.fpr);
      for (const u of got.cert.users) {
        if (u.kind !== 'userid') continue;
        assert.ok((await store.certs.byExactUserId(u.text)).some((s) => s.fpr === row.fpr));
        assert.ok((await store.search.searchUserIds(u.text.toUpperCase(), 10_000)).some((s) => s.fpr === row.fpr));
      }
      for (const a of d.addresses) assert.ok((await store.certs.byAddress(a.toUpperCase(), 10_000)).some((s) => s.fpr === row.fpr), a);
    }
    // The feed is as it was (empty from schema 1); new writes go on from there, with serials never used before.
    assert.equal(await store.changes.latest(), feedBefore);
    const fresh = syntheticCerts(1)[0];
    await store.certs.put(fresh, NOW);
    assert.ok((await store.certs.get(fresh.primary.fpr))!.serial > Math.max(0, ...before.map((r) => r.id)));
    assert.equal(await store.changes.latest(), feedBefore + 1);
    await store.certs.delete(fresh.primary.fpr);
  } finally {
    await store.close();
  }
}

describe('SQLite migration from schema 1', () => {
  test('a real authentication store written by the old code', async () => {
    const path = realV1Store();
    assert.equal(userVersion(path), 1);
    assert.deepEqual(triggers(path), ['auth_certs_delete', 'auth_certs_insert', 'auth_certs_update']);
    const kept = ['meta', 'verification_cache'];
    const before = dump(path, [...kept, 'auth_state', 'auth_issuers', 'auth_bindings']);
    const certs = certRows(path);
    assert.ok(certs.length >= 4, `${certs.length} certificates`);
    assert.ok((before.verification_cache as unknown[]).length > 0);
    assert.ok((before.auth_bindings as unknown[]).length > 0);

    // Read-only: refused with a hint, and the file is left as it was.
    await assert.rejects(SqliteStore.open(path, { readonly: true }), (err: unknown) => {
      assert.ok(err instanceof EnvironmentError);
      assert.equal(err.code, 'MS_STORE_SCHEMA');
      assert.match(err.message, new RegExp(`schema version 1.*upgraded to ${SCHEMA_VERSION}`));
      assert.match(err.hints.join('\n'), /without read-only access/);
      return true;
    });
    assert.equal(userVersion(path), 1);

    await checkMigrated(path, certs);
    assert.deepEqual(triggers(path), ['cert_text_delete', 'cert_text_insert']);
    // Every cached outcome and meta value is still there, but the authentication module's own
    // bookkeeping: its trust core moved to meta, its tables are gone (it derives them again).
    const after = dump(path, kept);
    assert.deepEqual(after.verification_cache, before.verification_cache);
    const core = (before.auth_state[0] as { core_fpr: string }).core_fpr;
    assert.match(core, /^[0-9A-F]{40}$/);
    const authKeys = new Set(['auth.schema', 'auth.bindings-code']);
    assert.deepEqual(after.meta, [...(before.meta as Array<{ key: string }>).filter((r) => !authKeys.has(r.key)), { key: 'auth.core', value: core }].sort((a, b) => (a.key < b.key ? -1 : 1)));
    const db = new Database(path, { readonly: true });
    try {
      assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'auth%'").all(), []);
      // The certification index agrees with what the old authentication index said.
      const now = db.prepare('SELECT issuer, cert_id, trust AS tsig FROM certifications ORDER BY cert_id, issuer').all();
      const old = [...(before.auth_issuers as Array<{ issuer: string; cert_id: number; tsig: number }>)].sort((a, b) => a.cert_id - b.cert_id || (a.issuer < b.issuer ? -1 : 1));
      assert.deepEqual(now, old);
    } finally {
      db.close();
    }
    // And a read-only open now reads.
    const ro = await SqliteStore.open(path, { readonly: true });
    try {
      assert.equal(await ro.certs.count(), certs.length);
    } finally {
      await ro.close();
    }
  });

  test('a schema-1 file with the auth triggers, snapshots, and more certificates than a backfill page', async () => {
    const path = join(root, `built-${++counter}.sqlite`);
    const ring = fixtureRing();
    const extra = syntheticCerts(600);
    const cacheKeys = Array.from({ length: 50 }, () => randomBytes(32));
    const snapKey = randomBytes(32);
    {
      const db = new Database(path);
      db.exec(v1Schema());
      db.pragma('user_version = 1');
      db.exec(await snapshotsSchema());
      db.exec('INSERT OR IGNORE INTO auth_state (id, generation) VALUES (1, 0)');
      assert.deepEqual(triggers(path), ['auth_certs_delete', 'auth_certs_insert', 'auth_certs_update']);
      const insert = db.prepare('INSERT INTO certs (fpr, data, created, updated) VALUES (?, ?, ?, ?)');
      const key = db.prepare('INSERT OR IGNORE INTO cert_keys (rfpr, keyid, cert_id) VALUES (?, ?, ?)');
      const uid = db.prepare('INSERT OR IGNORE INTO cert_userids (uid, cert_id) VALUES (?, ?)');
      db.transaction(() => {
        [...ring, ...extra].forEach((c, i) => {
          const id = Number(insert.run(c.primary.fpr, publicBytes(c), NOW + i, NOW + 2 * i).lastInsertRowid);
          for (const k of [c.primary, ...c.subkeys.map((s) => s.key)]) key.run(reverse(k.fpr), keyIdOf(k.fpr), id);
          for (const u of c.users) if (u.kind === 'userid') uid.run(u.packet.body, id);
        });
        // A gap in the ids: a certificate deleted in schema 1.
        db.prepare('DELETE FROM certs WHERE fpr = ?').run(INDEX.frank.fpr);
      })();
      db.prepare("INSERT INTO meta (key, value) VALUES ('auth.schema', '1'), ('k', 'ünïcode')").run();
      const rec = db.prepare('INSERT INTO verification_cache (key, good) VALUES (?, ?)');
      cacheKeys.forEach((k, i) => {
        rec.run(k, i % 2);
      });
      db.prepare('INSERT INTO snapshots (key, valid_after, valid_before, data, used) VALUES (?, ?, ?, ?, ?)').run(snapKey, NOW, NOW + 100, Buffer.from('snap'), 1);
      // What the triggers did, as before the change.
      assert.equal((db.prepare('SELECT count(*) AS n FROM auth_dirty').get() as { n: number }).n, ring.length + extra.length - 1);
      db.close();
    }
    const certs = certRows(path);
    assert.equal(certs.length, ring.length + extra.length - 1);
    await checkMigrated(path, certs);
    assert.deepEqual(triggers(path), ['cert_text_delete', 'cert_text_insert']);
    const store = await SqliteStore.open(path);
    try {
      assert.equal(await store.meta.getMeta('k'), 'ünïcode');
      assert.equal(await store.meta.getMeta('auth.schema'), undefined);
      const found = await store.verifications.lookup(cacheKeys);
      assert.equal(found.size, cacheKeys.length);
      cacheKeys.forEach((k, i) => {
        assert.equal(found.get(k.toString('hex')), i % 2 === 1);
      });
      assert.deepEqual((await store.snapshots.get(snapKey, NOW + 1))?.data, Buffer.from('snap'));
      // No trigger is left to write elsewhere, and writes work.
      await store.certs.put(fixture('frank.pgp'), NOW);
      await store.certs.delete(INDEX.alice.fpr);
      assert.deepEqual(store.database.db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'auth%'").all(), []);
      assert.deepEqual(
        (await store.certifications.certifiedBy([INDEX.carol.fpr.slice(-16)])).map((r) => r.target).sort(),
        [INDEX.dave.fpr, INDEX.frank.fpr].sort(),
      );
    } finally {
      await store.close();
    }
  });

  test('two processes opening a schema-1 file at once: it is migrated once, both write', async () => {
    const path = join(root, `race-${++counter}.sqlite`);
    const db = new Database(path);
    db.exec(v1Schema({ store: true }));
    db.pragma('user_version = 1');
    const insert = db.prepare('INSERT INTO certs (fpr, data, created, updated) VALUES (?, ?, ?, ?)');
    for (const c of fixtureRing()) insert.run(c.primary.fpr, publicBytes(c), NOW, NOW);
    db.close();
    const files = [0, 1].map((i) => {
      const f = join(root, `race-${counter}-${i}.pgp`);
      writeFileSync(f, writeCerts(syntheticCerts(20)));
      return f;
    });
    const results = await Promise.all(files.map((f) => runChild(['put', path, f])));
    for (const r of results) assert.equal(r.code, 0, r.err);
    assert.equal(userVersion(path), SCHEMA_VERSION);
    const store = await SqliteStore.open(path);
    try {
      assert.equal(await store.certs.count(), fixtureRing().length + 40);
      assert.equal(await store.changes.latest(), 40);
      assert.deepEqual(store.database.integrityCheck(), ['ok']);
    } finally {
      await store.close();
    }
    // readCerts of every stored row still gives the same certificate.
    for (const row of certRows(path)) assert.equal(readCerts(row.data).certs[0].primary.fpr, row.fpr);
  });
});

describe('SQLite migration from schema 3', () => {
  test('the address index is filled from the stored user IDs; the bytes move last; ids are still never reused', async () => {
    const path = join(root, `v3-${++counter}.sqlite`);
    // A schema-3 file: the current schema without what schema 4 added.
    const current = await SqliteStore.open(path);
    const extra = syntheticCerts(601);
    await current.certs.putMany([...fixtureRing(), ...extra], NOW);
    // The newest certificate deleted: its id must still never be used again.
    const last = extra[extra.length - 1].primary.fpr;
    const lastSerial = (await current.certs.get(last))!.serial;
    await current.certs.delete(last, NOW);
    await current.close();
    {
      const db = new Database(path);
      db.exec('DROP TABLE cert_addresses');
      db.pragma('user_version = 3');
      db.close();
    }
    const before = certRows(path);
    const store = await SqliteStore.open(path);
    try {
      // The first write after the migration: a new id, above the deleted one's.
      const fresh = syntheticCerts(1)[0];
      await store.certs.put(fresh, NOW);
      assert.ok((await store.certs.get(fresh.primary.fpr))!.serial > lastSerial);
      await store.certs.delete(fresh.primary.fpr, NOW);
      assert.deepEqual(
        (await store.certs.byAddress('Alice@Example.com', 10)).map((s) => s.fpr),
        [INDEX.alice.fpr],
      );
    } finally {
      await store.close();
    }
    await checkMigrated(path, before, before.length + 4);
  });
});
