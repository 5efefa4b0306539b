/**
 * The SQLite store (better-sqlite3): the embedded default, one file per host or user. Every
 * role of `Store` on one `SqliteDatabase`: WAL journal (or a rollback journal for files read by
 * users who cannot write their directory), synchronous=NORMAL, a busy timeout, automatic
 * migrations (migrations.ts), and every write in one transaction, so a crash leaves the old or
 * the new state and never a corrupt file. The async methods wrap synchronous prepared
 * statements: no query builder on the hot paths.
 */
import type { OpenOptions, Store } from '../types.js';
import { SqliteCertStore, SqliteDigestIndex } from './certs.js';
import { SqliteChangeFeed } from './changes.js';
import { SqliteDatabase, type SqliteOptions } from './database.js';
import { SqliteDerivedTables } from './derived.js';
import { SqliteCertificationIndex } from './indexes.js';
import { SqliteMetaStore } from './meta.js';
import { SqliteUserIdSearch } from './search.js';
import { SqliteSnapshotStore } from './snapshots.js';
import { SqliteVerificationCache } from './verification-cache.js';

export { SCHEMA_VERSION, SqliteDatabase, type SqliteOptions } from './database.js';
export { SqliteCertStore, SqliteDigestIndex } from './certs.js';
export { SqliteChangeFeed } from './changes.js';
export { SqliteDerivedTables } from './derived.js';
export { SqliteCertificationIndex } from './indexes.js';
export { SqliteMetaStore } from './meta.js';
export { SqliteUserIdSearch } from './search.js';
export { SNAPSHOTS_KEPT, SqliteSnapshotStore } from './snapshots.js';
export { SqliteVerificationCache } from './verification-cache.js';

/** Options of a SQLite store: the common ones, and the journal (see `SqliteOptions`). */
export type SqliteOpenOptions = OpenOptions & Pick<SqliteOptions, 'journal'>;

export class SqliteStore implements Store {
  readonly certs: SqliteCertStore;
  readonly certifications: SqliteCertificationIndex;
  readonly changes: SqliteChangeFeed;
  readonly digests: SqliteDigestIndex;
  readonly search: SqliteUserIdSearch;
  readonly meta: SqliteMetaStore;
  readonly derived: SqliteDerivedTables;
  readonly snapshots: SqliteSnapshotStore;
  readonly verifications: SqliteVerificationCache;

  /** The roles on an open database (which the store then owns: `close` closes it). */
  constructor(readonly database: SqliteDatabase) {
    this.certs = new SqliteCertStore(database);
    this.certifications = new SqliteCertificationIndex(database);
    this.changes = new SqliteChangeFeed(database);
    this.digests = new SqliteDigestIndex(database);
    this.search = new SqliteUserIdSearch(database);
    this.meta = new SqliteMetaStore(database);
    this.derived = new SqliteDerivedTables(database, this.changes);
    this.snapshots = new SqliteSnapshotStore(database);
    this.verifications = new SqliteVerificationCache(database);
  }

  /**
   * Opens (creating it unless read-only) the store in the file at `path` and migrates it to the
   * current schema (not when read-only: then the schema must be current already).
   * @throws EnvironmentError (MS_STORE_IO, MS_STORE_CORRUPT, MS_STORE_SCHEMA) or TemporaryError (MS_STORE_BUSY)
   */
  static async open(path: string, opts: SqliteOpenOptions = {}): Promise<SqliteStore> {
    const database = SqliteDatabase.open(path, opts);
    try {
      return new SqliteStore(database);
    } catch (err) {
      database.close();
      throw err;
    }
  }

  get readonly(): boolean {
    return this.database.readonly;
  }

  get location(): string {
    return this.database.path;
  }

  async close(): Promise<void> {
    this.database.close();
  }
}
