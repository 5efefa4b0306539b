/**
 * The PostgreSQL schema, as numbered migrations recorded in `schema_migrations` and applied
 * automatically under an advisory lock, so processes starting at once migrate once. Never edit
 * a released migration: append one. The tables mirror the SQLite store's schema 2
 * (src/store/sqlite/migrations.ts); identifiers and hex are `COLLATE "C"`, so ranges and
 * ordering are bytewise as there.
 *
 * - 1: certificates with their store order (never reused) and SKS digest (indexed, not unique);
 *   key rows by reversed fingerprint and reversed key ID (suffix lookups are index ranges);
 *   exact user IDs; folded user ID text (with a pg_trgm index when the extension can be had);
 *   the certification index; the change feed with its high-water mark in `feed` (gapless and
 *   transactional, unlike a sequence); meta; derived tables and stamps; snapshots; the
 *   verification cache.
 * - 2: a keyserver's held-aside certifications (`HeldCertifications`).
 * - 3: the address index (`CertStore.byAddress`), filled from the folded user ID text, as the
 *   SQLite store's schema 4.
 * - 4: the recon prefix trees (`ReconTrees`), as the SQLite store's schema 6: a row per tree,
 *   a row per node; created empty, a tree is built by its first catch-up.
 */
import type pg from 'pg';
import { EnvironmentError } from '../../errors.js';
import { addressOf, foldAddress } from '../../openpgp/user-id.js';
import { MIGRATION_LOCK } from './database.js';

const V1 = `
  CREATE TABLE certs (
    id bigserial PRIMARY KEY,
    fpr text COLLATE "C" NOT NULL UNIQUE,
    data bytea NOT NULL,
    created bigint NOT NULL,
    updated bigint NOT NULL,
    digest bytea NOT NULL
  );
  -- Not unique: MD5 collisions can be made on purpose, and one must not keep a certificate out.
  CREATE INDEX certs_digest ON certs (digest);
  CREATE TABLE cert_keys (
    rfpr text COLLATE "C" NOT NULL,
    rkeyid text COLLATE "C" NOT NULL,
    cert_id bigint NOT NULL REFERENCES certs (id) ON DELETE CASCADE,
    PRIMARY KEY (rfpr, cert_id)
  );
  CREATE INDEX cert_keys_rkeyid ON cert_keys (rkeyid);
  CREATE INDEX cert_keys_cert ON cert_keys (cert_id);
  CREATE TABLE cert_userids (
    uid bytea NOT NULL,
    cert_id bigint NOT NULL REFERENCES certs (id) ON DELETE CASCADE,
    PRIMARY KEY (uid, cert_id)
  );
  CREATE INDEX cert_userids_cert ON cert_userids (cert_id);
  CREATE TABLE cert_text (
    cert_id bigint NOT NULL REFERENCES certs (id) ON DELETE CASCADE,
    folded text NOT NULL
  );
  CREATE INDEX cert_text_cert ON cert_text (cert_id);
  CREATE TABLE certifications (
    issuer text COLLATE "C" NOT NULL,
    cert_id bigint NOT NULL REFERENCES certs (id) ON DELETE CASCADE,
    trust boolean NOT NULL,
    PRIMARY KEY (issuer, cert_id)
  );
  CREATE INDEX certifications_cert ON certifications (cert_id);
  CREATE TABLE changes (
    seq bigint PRIMARY KEY,
    fpr text COLLATE "C" NOT NULL,
    added bytea,
    removed bytea,
    at bigint NOT NULL
  );
  CREATE TABLE feed (
    id integer PRIMARY KEY CHECK (id = 1),
    latest bigint NOT NULL
  );
  INSERT INTO feed (id, latest) VALUES (1, 0);
  CREATE TABLE meta (
    key text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
  );
  CREATE TABLE derived (
    name text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    ord integer NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (name, key, ord)
  );
  CREATE TABLE derived_stamps (
    name text COLLATE "C" PRIMARY KEY,
    stamp text NOT NULL,
    seq bigint NOT NULL
  );
  CREATE TABLE snapshots (
    key bytea NOT NULL,
    valid_after bigint NOT NULL,
    valid_before bigint NOT NULL,
    data bytea NOT NULL,
    used bigint NOT NULL,
    PRIMARY KEY (key, valid_after)
  );
  CREATE TABLE verification_cache (
    key bytea PRIMARY KEY,
    good boolean NOT NULL
  );
`;

/** The trigram index for user ID search; skipped (search then scans) where pg_trgm cannot be installed. */
async function trigramIndex(c: pg.PoolClient): Promise<void> {
  await c.query('SAVEPOINT trgm');
  try {
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
    await c.query('CREATE INDEX cert_text_trgm ON cert_text USING gin (folded gin_trgm_ops)');
    await c.query('RELEASE SAVEPOINT trgm');
  } catch {
    await c.query('ROLLBACK TO SAVEPOINT trgm');
  }
}

/** 2: a keyserver's certifications held aside (as SQLite's schema 3). */
const V2 = `
  CREATE TABLE held_certifications (
    target text COLLATE "C" NOT NULL,
    sig_hash bytea NOT NULL,
    issuer text COLLATE "C" NOT NULL,
    component bytea NOT NULL,
    sig bytea NOT NULL,
    created bigint NOT NULL,
    held bigint NOT NULL,
    PRIMARY KEY (target, sig_hash)
  );
  CREATE INDEX held_certifications_issuer ON held_certifications (issuer);
`;

const V3 = `
  CREATE TABLE cert_addresses (
    address text COLLATE "C" NOT NULL,
    cert_id bigint NOT NULL REFERENCES certs (id) ON DELETE CASCADE,
    PRIMARY KEY (address, cert_id)
  );
  CREATE INDEX cert_addresses_cert ON cert_addresses (cert_id);
`;

/** Certificates whose user ID text is read per step of the address backfill. */
const BACKFILL_PAGE = 1024;

async function migrateTo3(c: pg.PoolClient): Promise<void> {
  await c.query(V3);
  for (let after = '0'; ; ) {
    const page = await c.query<{ first: string | null; last: string | null }>(
      'SELECT min(id) AS first, max(id) AS last FROM (SELECT id FROM certs WHERE id > $1 ORDER BY id LIMIT $2) AS p',
      [after, BACKFILL_PAGE],
    );
    const { first, last } = page.rows[0];
    if (first === null || last === null) break;
    const { rows } = await c.query<{ cert_id: string; folded: string }>('SELECT cert_id, folded FROM cert_text WHERE cert_id BETWEEN $1 AND $2', [first, last]);
    const pairs = rows.flatMap((r) => {
      const address = addressOf(r.folded);
      return address === undefined ? [] : [[foldAddress(address), r.cert_id] as const];
    });
    if (pairs.length > 0) {
      await c.query('INSERT INTO cert_addresses (address, cert_id) SELECT a, i FROM unnest($1::text[], $2::bigint[]) AS t(a, i) ON CONFLICT DO NOTHING', [
        pairs.map((p) => p[0]),
        pairs.map((p) => p[1]),
      ]);
    }
    after = last;
  }
}

/**
 * 4: the recon prefix trees (src/store/recon-tree.ts). gen is bumped by every commit; key is
 * `encodeBitstring` of the prefix; svalues and elements are 17-byte little-endian field
 * elements, elements NULL for an internal node. IF NOT EXISTS: tests make older databases by
 * winding a current one back, tables left in place.
 */
const V4 = `
  CREATE TABLE IF NOT EXISTS recon_trees (
    name text COLLATE "C" PRIMARY KEY,
    format integer NOT NULL,
    seq bigint NOT NULL,
    gen bigint NOT NULL
  );
  CREATE TABLE IF NOT EXISTS recon_nodes (
    tree text COLLATE "C" NOT NULL REFERENCES recon_trees (name),
    key bytea NOT NULL,
    size integer NOT NULL,
    svalues bytea NOT NULL,
    elements bytea,
    PRIMARY KEY (tree, key)
  );
`;

/**
 * 5: notes on certificates (`CertNotes`: the keyserver's index summaries), one per certificate,
 * with the digest of the bytes they were computed from. Empty at first: notes are caches.
 */
const V5 = `
  CREATE TABLE IF NOT EXISTS cert_notes (
    cert_id bigint PRIMARY KEY,
    digest bytea NOT NULL,
    valid_after bigint NOT NULL,
    valid_before bigint NOT NULL,
    data bytea NOT NULL
  );
`;

/** Each entry takes the schema from version i to i + 1. */
const MIGRATIONS: ReadonlyArray<(c: pg.PoolClient) => Promise<void>> = [
  async (c) => {
    await c.query(V1);
    await trigramIndex(c);
  },
  async (c) => {
    await c.query(V2);
  },
  migrateTo3,
  async (c) => {
    await c.query(V4);
  },
  async (c) => {
    await c.query(V5);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

async function currentVersion(c: pg.PoolClient): Promise<number | undefined> {
  const exists = await c.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if (!exists.rows[0].t) return undefined;
  const r = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  return r.rows[0].v ?? 0;
}

function newer(location: string, version: number): EnvironmentError {
  return new EnvironmentError('MS_STORE_SCHEMA', `database ${JSON.stringify(location)} has schema version ${version}, newer than this program's ${SCHEMA_VERSION}`, {
    hints: ['upgrade monkeysphere, or use another database'],
    data: { path: location, version, supported: SCHEMA_VERSION },
  });
}

/** Brings the schema up to date inside transaction `c`, or (read-only) checks that it is. */
export async function migrate(c: pg.PoolClient, location: string, readonly: boolean): Promise<void> {
  let version = (await currentVersion(c)) ?? 0;
  if (version > SCHEMA_VERSION) throw newer(location, version);
  if (version === SCHEMA_VERSION) return;
  if (readonly) {
    throw new EnvironmentError('MS_STORE_SCHEMA', `database ${JSON.stringify(location)} has schema version ${version}; it must be upgraded to ${SCHEMA_VERSION} first`, {
      hints: ['open it once without read-only access to upgrade it'],
      data: { path: location, version, supported: SCHEMA_VERSION },
    });
  }
  await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
  await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied bigint NOT NULL)');
  // Another process may have migrated while we waited for the lock.
  version = (await currentVersion(c)) ?? 0;
  if (version > SCHEMA_VERSION) throw newer(location, version);
  for (let v = version; v < SCHEMA_VERSION; v++) {
    await MIGRATIONS[v](c);
    // When it was applied: bookkeeping for people, from the server's clock.
    await c.query('INSERT INTO schema_migrations (version, applied) VALUES ($1, EXTRACT(EPOCH FROM now())::bigint)', [v + 1]);
  }
}
