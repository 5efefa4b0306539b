/**
 * The schema, as numbered migrations tracked in `PRAGMA user_version` and run automatically,
 * all of them in one write transaction (BEGIN IMMEDIATE, so two processes opening a new file
 * at once migrate it once). Never edit a released migration: append one.
 *
 * - 1: certificates, their key and user ID indexes, meta, the verification cache (the
 *   snapshots table was created on demand).
 * - 2: the one store: certificates get a store order that is never reused (AUTOINCREMENT)
 *   and their SKS digest; key rows get the short key ID (v6 keys' short IDs are not a
 *   fingerprint suffix); user ID search, the certification index, the change feed, derived
 *   tables and snapshots. Everything is backfilled by parsing each stored certificate, and
 *   the triggers the authentication module had put on `certs` are dropped: from schema 2 on,
 *   only the store writes its tables. That module's own `auth_*` tables go too: their one
 *   lasting value, the trust core's fingerprint, moves to meta (`auth.core`), and the
 *   precomputed bindings are recomputed at the next lookup.
 * - 3: a keyserver's held-aside certifications (`HeldCertifications`).
 * - 4: the address index (`CertStore.byAddress`), filled from the user ID text.
 * - 5: the certificate bytes move to the last column of `certs` (reading the columns before
 *   them no longer walks the blob).
 * - 6: the recon prefix trees (`ReconTrees`, src/store/recon-tree.ts): a row per tree (named by
 *   its settings) with its change seq, and a row per node. Created empty: a tree is built by
 *   its first catch-up, from the digests schema 2 stored.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { EnvironmentError } from '../../errors.js';
import { readCerts } from '../../openpgp/cert.js';
import { sksDigest } from '../../openpgp/sks-digest.js';
import { addressOf, foldAddress } from '../../openpgp/user-id.js';
import { type Derived, deriveIndexes } from '../derive.js';
import { Indexer } from './indexes.js';

const V1 = `
  CREATE TABLE certs (
    id INTEGER PRIMARY KEY,
    fpr TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
  );
  -- Primary key and subkeys. The fingerprint is stored reversed (as hockeypuck does) so that a
  -- fingerprint-suffix lookup (short and long v4 key IDs) is an index range scan.
  CREATE TABLE cert_keys (
    rfpr TEXT NOT NULL,
    keyid TEXT NOT NULL,
    cert_id INTEGER NOT NULL REFERENCES certs(id) ON DELETE CASCADE,
    PRIMARY KEY (rfpr, cert_id)
  ) WITHOUT ROWID;
  CREATE INDEX cert_keys_keyid ON cert_keys(keyid);
  CREATE INDEX cert_keys_cert ON cert_keys(cert_id);
  CREATE TABLE cert_userids (
    uid BLOB NOT NULL,
    cert_id INTEGER NOT NULL REFERENCES certs(id) ON DELETE CASCADE,
    PRIMARY KEY (uid, cert_id)
  ) WITHOUT ROWID;
  CREATE INDEX cert_userids_cert ON cert_userids(cert_id);
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  -- key: sha256(issuer fingerprint || signed digest || signature packet body), see src/verify/cache.ts.
  CREATE TABLE verification_cache (
    key BLOB PRIMARY KEY,
    good INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

const V2_TABLES = `
  DROP TRIGGER IF EXISTS auth_certs_insert;
  DROP TRIGGER IF EXISTS auth_certs_update;
  DROP TRIGGER IF EXISTS auth_certs_delete;
  DROP TABLE cert_keys;
  DROP TABLE cert_userids;

  -- id: the store order (StoredCert.serial), never reused. digest: the SKS digest of data.
  CREATE TABLE certs_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fpr TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    digest BLOB NOT NULL
  );
  -- Primary key and subkeys. The fingerprint is stored reversed (as hockeypuck does) so that a
  -- fingerprint suffix (v4 key IDs, any tail) is an index range scan; so is the key ID, so that
  -- one index answers both a key ID (all 16 digits) and a short key ID (its last 8), which for a
  -- v6 key are not a fingerprint suffix.
  CREATE TABLE cert_keys (
    rfpr TEXT NOT NULL,
    rkeyid TEXT NOT NULL,
    cert_id INTEGER NOT NULL,
    PRIMARY KEY (rfpr, cert_id)
  ) WITHOUT ROWID;
  CREATE INDEX cert_keys_rkeyid ON cert_keys(rkeyid);
  CREATE INDEX cert_keys_cert ON cert_keys(cert_id);
  -- User ID packet bodies, for exact lookups.
  CREATE TABLE cert_userids (
    uid BLOB NOT NULL,
    cert_id INTEGER NOT NULL,
    PRIMARY KEY (uid, cert_id)
  ) WITHOUT ROWID;
  CREATE INDEX cert_userids_cert ON cert_userids(cert_id);
  -- User IDs folded for search (toLowerCase), with a trigram index for substrings of 3 or more
  -- characters (shorter ones scan). case_sensitive: the text is folded already, by our rule.
  CREATE TABLE cert_text (
    id INTEGER PRIMARY KEY,
    cert_id INTEGER NOT NULL,
    folded TEXT NOT NULL
  );
  CREATE INDEX cert_text_cert ON cert_text(cert_id);
  CREATE VIRTUAL TABLE cert_text_fts USING fts5(folded, content='cert_text', content_rowid='id', tokenize='trigram case_sensitive 1');
  CREATE TRIGGER cert_text_insert AFTER INSERT ON cert_text BEGIN
    INSERT INTO cert_text_fts (rowid, folded) VALUES (new.id, new.folded);
  END;
  CREATE TRIGGER cert_text_delete AFTER DELETE ON cert_text BEGIN
    INSERT INTO cert_text_fts (cert_text_fts, rowid, folded) VALUES ('delete', old.id, old.folded);
  END;
  -- Who certified whom, as the certificates claim (derive.ts certificationIssuers).
  CREATE TABLE certifications (
    issuer TEXT NOT NULL,
    cert_id INTEGER NOT NULL,
    trust INTEGER NOT NULL,
    PRIMARY KEY (issuer, cert_id)
  ) WITHOUT ROWID;
  CREATE INDEX certifications_cert ON certifications(cert_id);
  -- The change feed; AUTOINCREMENT keeps seq increasing after a prune.
  CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fpr TEXT NOT NULL,
    added BLOB,
    removed BLOB,
    at INTEGER NOT NULL
  );
  -- Tables computed from the certificates (DerivedTables): values in the order given.
  CREATE TABLE derived (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    ord INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key, ord)
  ) WITHOUT ROWID;
  CREATE TABLE derived_stamps (
    name TEXT PRIMARY KEY,
    stamp TEXT NOT NULL,
    seq INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- Results computed from inputs (key: a digest of the inputs and of what was computed), valid for
  -- reference times strictly between valid_after and valid_before (-1 and 2^53 - 1: unbounded).
  -- One key may have several windows. Schema 1 created it on demand: it may exist.
  CREATE TABLE IF NOT EXISTS snapshots (
    key BLOB NOT NULL,
    valid_after INTEGER NOT NULL,
    valid_before INTEGER NOT NULL,
    data BLOB NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (key, valid_after)
  ) WITHOUT ROWID;
`;

/** Rows parsed per step of the backfill: memory stays flat on a big store. */
const BACKFILL_PAGE = 256;

function migrateTo2(db: Database.Database): void {
  db.exec(V2_TABLES);
  const page = db.prepare<[number, number], { id: number; fpr: string; data: Buffer; created: number; updated: number }>(
    'SELECT id, fpr, data, created, updated FROM certs WHERE id > ? ORDER BY id LIMIT ?',
  );
  const insert = db.prepare<[number, string, Buffer, number, number, Buffer]>('INSERT INTO certs_v2 (id, fpr, data, created, updated, digest) VALUES (?, ?, ?, ?, ?, ?)');
  const indexer = new Indexer(db, { addresses: false });
  for (let after = 0; ; ) {
    const rows = page.all(after, BACKFILL_PAGE);
    for (const row of rows) {
      const derived = deriveStored(row.fpr, row.data);
      insert.run(row.id, row.fpr, row.data, row.created, row.updated, derived?.digest ?? digestOfUnparseable(row.data));
      if (derived) indexer.index(row.id, derived);
    }
    if (rows.length < BACKFILL_PAGE) break;
    after = rows[rows.length - 1].id;
  }
  db.exec(`
    DROP TABLE certs;
    ALTER TABLE certs_v2 RENAME TO certs;
    -- Not unique: MD5 collisions can be made on purpose, and one must not keep a certificate out.
    CREATE INDEX certs_digest ON certs(digest);
  `);
  dropLegacyAuthTables(db);
}

/** Schema 1's authentication tables: the trust core moves to meta, the rest is derived again. */
function dropLegacyAuthTables(db: Database.Database): void {
  const has = (name: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
  if (has('auth_state')) {
    db.exec("INSERT OR IGNORE INTO meta (key, value) SELECT 'auth.core', core_fpr FROM auth_state WHERE id = 1 AND core_fpr IS NOT NULL");
  }
  for (const t of ['auth_state', 'auth_dirty', 'auth_issuers', 'auth_bindings']) db.exec(`DROP TABLE IF EXISTS ${t}`);
  db.exec("DELETE FROM meta WHERE key IN ('auth.schema', 'auth.bindings-code')");
}

/** The indexes of stored bytes; undefined when they no longer parse as the certificate (it stays, unindexed). */
function deriveStored(fpr: string, data: Buffer): Derived | undefined {
  try {
    const { certs } = readCerts(data);
    return certs.length === 1 && certs[0].primary.fpr === fpr ? deriveIndexes(certs[0]) : undefined;
  } catch {
    return undefined;
  }
}

function digestOfUnparseable(data: Buffer): Buffer {
  try {
    return sksDigest(data);
  } catch {
    return createHash('md5').update(data).digest();
  }
}

/**
 * 3: a keyserver's certifications held aside (issuer unknown, not served), by target and by
 * issuer; identified by target and the SHA-256 of the signature packet.
 */
const V3 = `
  CREATE TABLE held_certifications (
    target TEXT NOT NULL,
    sig_hash BLOB NOT NULL,
    issuer TEXT NOT NULL,
    component BLOB NOT NULL,
    sig BLOB NOT NULL,
    created INTEGER NOT NULL,
    held INTEGER NOT NULL,
    PRIMARY KEY (target, sig_hash)
  ) WITHOUT ROWID;
  CREATE INDEX held_certifications_issuer ON held_certifications(issuer);
`;

/**
 * 4: the address index (src/openpgp/user-id.ts `addressOf`, folded), so a search by e-mail is a
 * keyed lookup and not a trigram search whose trigrams every address of a domain shares.
 * Filled from the folded user ID text: folding changes no character the address rule reads.
 */
function migrateTo4(db: Database.Database): void {
  db.exec(`
    CREATE TABLE cert_addresses (
      address TEXT NOT NULL,
      cert_id INTEGER NOT NULL,
      PRIMARY KEY (address, cert_id)
    ) WITHOUT ROWID;
    CREATE INDEX cert_addresses_cert ON cert_addresses(cert_id);
  `);
  const insert = db.prepare<[string, number]>('INSERT OR IGNORE INTO cert_addresses (address, cert_id) VALUES (?, ?)');
  const page = db.prepare<[number, number], { id: number; cert_id: number; folded: string }>('SELECT id, cert_id, folded FROM cert_text WHERE id > ? ORDER BY id LIMIT ?');
  for (let after = 0; ; ) {
    const rows = page.all(after, BACKFILL_PAGE * 16);
    for (const row of rows) {
      const address = addressOf(row.folded);
      if (address !== undefined) insert.run(foldAddress(address), row.cert_id);
    }
    if (rows.length < BACKFILL_PAGE * 16) break;
    after = rows[rows.length - 1].id;
  }
}

/**
 * 5: the certificate bytes become the last column. SQLite reads a row's columns in order, and
 * a column after a large blob is reached only through the blob's overflow pages: with `data`
 * third, reading a Debian certificate's digest or times (every lookup does) walked ~30 KB.
 * The table is copied (no foreign key points at it since schema 2), keeping ids and the
 * AUTOINCREMENT high-water mark, so ids are still never reused.
 */
function migrateTo5(db: Database.Database): void {
  const seq = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'certs'").get()?.seq ?? 0;
  db.exec(`
    CREATE TABLE certs_v5 (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      fpr TEXT NOT NULL UNIQUE,
      created INTEGER NOT NULL,
      updated INTEGER NOT NULL,
      digest BLOB NOT NULL,
      data BLOB NOT NULL
    );
    INSERT INTO certs_v5 (id, fpr, created, updated, digest, data) SELECT id, fpr, created, updated, digest, data FROM certs ORDER BY id;
    DROP TABLE certs;
    ALTER TABLE certs_v5 RENAME TO certs;
    CREATE INDEX certs_digest ON certs(digest);
  `);
  db.prepare<[number]>("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'certs'").run(seq);
  db.prepare<[number]>("INSERT INTO sqlite_sequence (name, seq) SELECT 'certs', ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'certs')").run(seq);
}

/**
 * 6: the recon prefix trees. gen is bumped by every commit, so a writer that read the tree at
 * one gen commits only if no other did meanwhile. key: `encodeBitstring` of the prefix;
 * svalues and elements: 17-byte little-endian field elements; elements NULL for an internal node.
 * IF NOT EXISTS: tests make older files by winding a current one back, tables left in place.
 */
const V6 = `
  CREATE TABLE IF NOT EXISTS recon_trees (
    name TEXT PRIMARY KEY,
    format INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    gen INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS recon_nodes (
    tree TEXT NOT NULL,
    key BLOB NOT NULL,
    size INTEGER NOT NULL,
    svalues BLOB NOT NULL,
    elements BLOB,
    PRIMARY KEY (tree, key)
  ) WITHOUT ROWID;
`;

/**
 * 7: notes on certificates (`CertNotes`: the keyserver's index summaries), one per certificate,
 * with the digest of the bytes they were computed from. Empty at first: notes are caches.
 */
const V7 = `
  CREATE TABLE IF NOT EXISTS cert_notes (
    cert_id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL,
    valid_after INTEGER NOT NULL,
    valid_before INTEGER NOT NULL,
    data BLOB NOT NULL
  );
`;

/** Each entry takes the schema from version i to i + 1. */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => db.exec(V1),
  migrateTo2,
  (db) => db.exec(V3),
  migrateTo4,
  migrateTo5,
  (db) => db.exec(V6),
  (db) => db.exec(V7),
];

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the schema of `db` up to date, or checks that it is when read-only. */
export function migrate(db: Database.Database, path: string, readonly: boolean): void {
  const current = () => db.pragma('user_version', { simple: true }) as number;
  const check = (v: number) => {
    if (v > SCHEMA_VERSION) {
      throw new EnvironmentError('MS_STORE_SCHEMA', `database ${JSON.stringify(path)} has schema version ${v}, newer than this program's ${SCHEMA_VERSION}`, {
        hints: ['upgrade monkeysphere, or use another database file'],
        data: { path, version: v, supported: SCHEMA_VERSION },
      });
    }
  };
  check(current());
  if (current() === SCHEMA_VERSION) return;
  if (readonly) {
    throw new EnvironmentError('MS_STORE_SCHEMA', `database ${JSON.stringify(path)} has schema version ${current()}; it must be upgraded to ${SCHEMA_VERSION} first`, {
      hints: ['open it once without read-only access (for example, run monkeysphere-authentication update-users as root) to upgrade it'],
      data: { path, version: current(), supported: SCHEMA_VERSION },
    });
  }
  db.transaction(() => {
    // Another connection may have migrated while we waited for the lock.
    const v = current();
    check(v);
    for (let i = v; i < SCHEMA_VERSION; i++) MIGRATIONS[i](db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
