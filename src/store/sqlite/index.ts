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
import { SqliteHeldCertifications } from './held.js';
import { SqliteCertificationIndex } from './indexes.js';
import { SqliteMetaStore } from './meta.js';
import { SqliteCertNotes } from './notes.js';
import { SqliteReconTrees } from './recon-tree.js';
import { SqliteUserIdSearch } from './search.js';
import { SqliteSnapshotStore } from './snapshots.js';
import { SqliteVerificationCache } from './verification-cache.js';

export { SCHEMA_VERSION, SqliteDatabase, type SqliteOptions } from './database.js';
export { SqliteCertStore, SqliteDigestIndex } from './certs.js';
export { SqliteChangeFeed } from './changes.js';
export { SqliteDerivedTables } from './derived.js';
export { SqliteHeldCertifications } from './held.js';
export { SqliteCertificationIndex } from './indexes.js';
export { SqliteMetaStore } from './meta.js';
export { SqliteCertNotes } from './notes.js';
export { SqliteReconTrees } from './recon-tree.js';
export { SqliteUserIdSearch } from './search.js';
export { SNAPSHOTS_KEPT, SqliteSnapshotStore } from './snapshots.js';
export { SqliteVerificationCache } from './verification-cache.js';

/** Options of a SQLite store: the common ones, and the journal (see `SqliteOptions`). */
export type SqliteOpenOptions = OpenOptions & Pick<SqliteOptions, 'journal'>;

export class SqliteStore implements Store {
  // Each role prepares its statements when first used: a login that reads one derived table
  // prepares only those.
  #certs?: SqliteCertStore;
  #certifications?: SqliteCertificationIndex;
  #changes?: SqliteChangeFeed;
  #digests?: SqliteDigestIndex;
  #search?: SqliteUserIdSearch;
  #meta?: SqliteMetaStore;
  #derived?: SqliteDerivedTables;
  #snapshots?: SqliteSnapshotStore;
  #verifications?: SqliteVerificationCache;
  #notes?: SqliteCertNotes;
  #held?: SqliteHeldCertifications;
  #reconTrees?: SqliteReconTrees;

  /** The roles on an open database (which the store then owns: `close` closes it). */
  constructor(readonly database: SqliteDatabase) {}

  get certs(): SqliteCertStore {
    this.#certs ??= new SqliteCertStore(this.database);
    return this.#certs;
  }

  get certifications(): SqliteCertificationIndex {
    this.#certifications ??= new SqliteCertificationIndex(this.database);
    return this.#certifications;
  }

  get changes(): SqliteChangeFeed {
    this.#changes ??= new SqliteChangeFeed(this.database);
    return this.#changes;
  }

  get digests(): SqliteDigestIndex {
    this.#digests ??= new SqliteDigestIndex(this.database);
    return this.#digests;
  }

  get search(): SqliteUserIdSearch {
    this.#search ??= new SqliteUserIdSearch(this.database);
    return this.#search;
  }

  get meta(): SqliteMetaStore {
    this.#meta ??= new SqliteMetaStore(this.database);
    return this.#meta;
  }

  get derived(): SqliteDerivedTables {
    this.#derived ??= new SqliteDerivedTables(this.database, this.changes);
    return this.#derived;
  }

  get snapshots(): SqliteSnapshotStore {
    this.#snapshots ??= new SqliteSnapshotStore(this.database);
    return this.#snapshots;
  }

  get verifications(): SqliteVerificationCache {
    this.#verifications ??= new SqliteVerificationCache(this.database);
    return this.#verifications;
  }

  get notes(): SqliteCertNotes {
    this.#notes ??= new SqliteCertNotes(this.database);
    return this.#notes;
  }

  get held(): SqliteHeldCertifications {
    this.#held ??= new SqliteHeldCertifications(this.database);
    return this.#held;
  }

  get reconTrees(): SqliteReconTrees {
    this.#reconTrees ??= new SqliteReconTrees(this.database);
    return this.#reconTrees;
  }

  /**
   * Opens (creating it unless read-only) the store in the file at `path` and migrates it to the
   * current schema (not when read-only: then the schema must be current already).
   * @throws EnvironmentError (MS_STORE_IO, MS_STORE_CORRUPT, MS_STORE_SCHEMA) or TemporaryError (MS_STORE_BUSY)
   */
  static async open(path: string, opts: SqliteOpenOptions = {}): Promise<SqliteStore> {
    return new SqliteStore(SqliteDatabase.open(path, opts));
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
