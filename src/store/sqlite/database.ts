/**
 * One open SQLite file (better-sqlite3): pragmas (WAL and synchronous=NORMAL, or a rollback
 * journal), the busy timeout, automatic migrations under the write lock, the mapping of
 * SQLite failures to our errors, and the two ways in: `read` and `write` (one BEGIN IMMEDIATE
 * transaction). The role modules beside it prepare their statements on it.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { EnvironmentError, MsError, TemporaryError } from '../../errors.js';
import { migrate, SCHEMA_VERSION } from './migrations.js';

export { SCHEMA_VERSION };

export interface SqliteOptions {
  /** How long a write waits for another connection's lock before failing with MS_STORE_BUSY (default 5000 ms). */
  busyTimeoutMs?: number;
  /** Open without writing: no file creation, no migrations (the schema must be current). */
  readonly?: boolean;
  /**
   * Journal of a writable connection (default 'wal'). A WAL database can be opened read-only only by
   * someone who can create its -wal and -shm files (write access to the directory) or while a writer
   * keeps them open; a reader that cannot (sshd's AuthorizedKeysCommandUser reading a root-owned
   * store) fails with MS_STORE_IO. Choose 'rollback' for such files: journal_mode=DELETE with
   * synchronous=FULL, which read-only readers need nothing more for. The mode is stored in the file.
   */
  journal?: 'wal' | 'rollback';
}

/** Maps SQLite failures to our error classes: busy is temporary, disk and file trouble is environmental. */
export function storeError(err: unknown, what: string): unknown {
  if (err instanceof MsError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return err;
  const message = `${what}: ${(err as Error).message}`;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new TemporaryError('MS_STORE_BUSY', message, { cause: err, hints: ['another process holds the database lock; try again'] });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new EnvironmentError('MS_STORE_CORRUPT', message, { cause: err });
  }
  if (/^SQLITE_(CANTOPEN|READONLY|IOERR|FULL|PERM|AUTH)/.test(code)) {
    return new EnvironmentError('MS_STORE_IO', message, { cause: err });
  }
  return err;
}

function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw storeError(err, what);
  }
}

/**
 * One open database file. Create one per process (better-sqlite3 is synchronous; a connection is
 * not shared between threads), then build the roles on it (`SqliteStore` does).
 */
export class SqliteDatabase {
  private constructor(
    readonly path: string,
    readonly db: Database.Database,
    readonly readonly: boolean,
    private readonly busyTimeoutMs: number,
  ) {}

  /**
   * Opens (and creates, unless read-only) the database at `path` and brings its schema up to date.
   * Several processes may open the same file at once; migrations run under the write lock.
   * @throws EnvironmentError (MS_STORE_IO, MS_STORE_CORRUPT, MS_STORE_SCHEMA) or TemporaryError (MS_STORE_BUSY)
   */
  static open(path: string, opts: SqliteOptions = {}): SqliteDatabase {
    const readonly = opts.readonly ?? false;
    return guard(`cannot open database ${JSON.stringify(path)}`, () => {
      if (path !== ':memory:' && !existsSync(dirname(path))) {
        throw new EnvironmentError('MS_STORE_IO', `cannot open database ${JSON.stringify(path)}: its directory does not exist`, { data: { path } });
      }
      const db = new Database(path, { readonly, fileMustExist: readonly });
      const busyTimeoutMs = Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000));
      try {
        db.pragma(`busy_timeout = ${busyTimeoutMs}`);
        if (!readonly && (opts.journal ?? 'wal') === 'wal') {
          // WAL: readers never block the writer; NORMAL: a power cut may lose the last commits, never consistency.
          db.pragma('journal_mode = WAL');
          db.pragma('synchronous = NORMAL');
        } else if (!readonly) {
          // A rollback journal needs FULL for the same guarantee.
          db.pragma('journal_mode = DELETE');
          db.pragma('synchronous = FULL');
        }
        db.pragma('foreign_keys = ON');
        migrate(db, path, readonly);
        return new SqliteDatabase(path, db, readonly, busyTimeoutMs);
      } catch (err) {
        db.close();
        throw err;
      }
    });
  }

  /**
   * Runs `fn` in one write transaction (BEGIN IMMEDIATE), so a concurrent writer cannot slip
   * between its read and its write.
   * @throws EnvironmentError (MS_STORE_READONLY) on a read-only store, before touching the file.
   */
  write<T>(what: string, fn: () => T): T {
    if (this.readonly) {
      throw new EnvironmentError('MS_STORE_READONLY', `${what}: the store ${JSON.stringify(this.path)} is open read-only`, {
        hints: ['run this as a user who can write the store'],
        data: { path: this.path },
      });
    }
    return guard(what, () => this.db.transaction(fn).immediate());
  }

  /**
   * Runs `fn` in one write transaction unless that would wait for another writer or fails (a
   * read-only store, a full disk): for caches, which only save work, so a write is skipped
   * rather than delaying or failing an answer already computed. Whether it ran.
   */
  tryWrite(fn: () => void): boolean {
    if (this.readonly) return false;
    try {
      this.db.pragma('busy_timeout = 0');
      this.db.transaction(fn).immediate();
      return true;
    } catch {
      return false;
    } finally {
      this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    }
  }

  read<T>(what: string, fn: () => T): T {
    return guard(what, fn);
  }

  /**
   * A statement whose SQL ends in `LIMIT ${n}`, prepared once per limit. A bound `LIMIT ?` makes
   * SQLite prepare the statement again on every run (measured: 18 µs of a 40 µs address lookup),
   * and the callers here use a few fixed limits. A limit is rounded down and capped at 2^31 - 1
   * (more rows than any answer holds).
   */
  limited<P extends unknown[], R>(sql: (limit: number) => string): (limit: number) => Database.Statement<P, R> {
    const byLimit = new Map<number, Database.Statement<P, R>>();
    return (asked) => {
      if (!(asked >= 0)) throw new RangeError(`a LIMIT must be a number of rows, not ${asked}`);
      const limit = Math.min(Math.floor(asked), 2 ** 31 - 1);
      let stmt = byLimit.get(limit);
      if (!stmt) {
        // Each is a prepared statement held open: at most 8, the first prepared dropped first.
        if (byLimit.size >= 8) byLimit.delete(byLimit.keys().next().value!);
        stmt = this.db.prepare<P, R>(sql(limit));
        byLimit.set(limit, stmt);
      }
      return stmt;
    };
  }

  /** SQLite's own consistency check; `['ok']` when the file is sound. */
  integrityCheck(): string[] {
    return this.read('cannot check database', () => this.db.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>).map(
      (r) => r.integrity_check,
    );
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
