/**
 * The PostgreSQL store (pg): the same `Store` as the embedded SQLite one, for a keyserver or a
 * site that keeps one database for many hosts. Opening migrates the schema (migrations.ts);
 * a read-only store runs every transaction read-only on the server as well. Writes to the
 * certificates are serialised by one advisory lock (database.ts), as SQLite's single writer
 * serialises them, so both back ends give the same answers: the conformance suite in
 * test/store/ runs on both.
 */
import type { OpenOptions, Store } from '../types.js';
import { PostgresCertificationIndex } from './certifications.js';
import { PostgresCertStore, PostgresDigestIndex } from './certs.js';
import { PostgresSnapshotStore, PostgresVerificationCache } from './caches.js';
import { PostgresDatabase } from './database.js';
import { PostgresChangeFeed, PostgresDerivedTables } from './feed.js';
import { PostgresHeldCertifications } from './held.js';
import { PostgresMetaStore } from './meta.js';
import { PostgresCertNotes } from './notes.js';
import { migrate } from './migrations.js';
import { PostgresReconTrees } from './recon-tree.js';
import { PostgresUserIdSearch } from './search.js';

export { redact } from './database.js';
export { SCHEMA_VERSION } from './migrations.js';

export class PostgresStore implements Store {
  readonly certs: PostgresCertStore;
  readonly certifications: PostgresCertificationIndex;
  readonly changes: PostgresChangeFeed;
  readonly digests: PostgresDigestIndex;
  readonly search: PostgresUserIdSearch;
  readonly meta: PostgresMetaStore;
  readonly derived: PostgresDerivedTables;
  readonly snapshots: PostgresSnapshotStore;
  readonly verifications: PostgresVerificationCache;
  readonly notes: PostgresCertNotes;
  readonly held: PostgresHeldCertifications;
  readonly reconTrees: PostgresReconTrees;

  private constructor(readonly database: PostgresDatabase) {
    this.certs = new PostgresCertStore(database);
    this.certifications = new PostgresCertificationIndex(database);
    this.changes = new PostgresChangeFeed(database);
    this.digests = new PostgresDigestIndex(database);
    this.search = new PostgresUserIdSearch(database);
    this.meta = new PostgresMetaStore(database);
    this.derived = new PostgresDerivedTables(database);
    this.snapshots = new PostgresSnapshotStore(database);
    this.verifications = new PostgresVerificationCache(database);
    this.notes = new PostgresCertNotes(database);
    this.held = new PostgresHeldCertifications(database);
    this.reconTrees = new PostgresReconTrees(database);
  }

  /**
   * Connects to the database at `url` (`postgres://` or `postgresql://`, a Unix socket as
   * `?host=/run/postgresql`) and migrates its schema, unless read-only (then it must be current).
   * @throws EnvironmentError (MS_STORE_IO, MS_STORE_SCHEMA) or TemporaryError (MS_STORE_BUSY)
   */
  static async open(url: string, opts: OpenOptions = {}): Promise<PostgresStore> {
    const database = PostgresDatabase.create(url, opts.readonly ?? false, opts.busyTimeoutMs ?? 5000);
    try {
      await database.transaction(`cannot open database ${JSON.stringify(database.location)}`, (c) => migrate(c, database.location, database.readonly));
    } catch (err) {
      await database.close();
      throw err;
    }
    return new PostgresStore(database);
  }

  get readonly(): boolean {
    return this.database.readonly;
  }

  get location(): string {
    return this.database.location;
  }

  async close(): Promise<void> {
    await this.database.close();
  }
}
