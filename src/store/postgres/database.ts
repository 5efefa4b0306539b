/**
 * One PostgreSQL database for the store (pg's pool): transactions, the one write lock, and
 * PostgreSQL's failures mapped to the store's error codes. Every write that touches
 * certificates, the change feed or derived tables takes the same transaction-scoped advisory
 * lock first, so writes apply one at a time as on SQLite: change seqs follow commit order and
 * a derived table is only ever replaced against the seq it was computed from.
 * Not here: the schema (migrations.ts) and the roles (the other modules).
 */
import pg from 'pg';
import { EnvironmentError, MsError, TemporaryError } from '../../errors.js';

/** Arbitrary constants naming our advisory locks (one namespace per database). */
export const WRITE_LOCK = 0x4d53_5752; // "MSWR"
export const MIGRATION_LOCK = 0x4d53_4d47; // "MSMG"

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

const BUSY = new Set(['40001', '40P01', '55P03', '57014']);
const CORRUPT = new Set(['XX001', 'XX002']);

/** Maps pg and socket failures to our error classes: contention is temporary, the rest environmental. */
export function storeError(err: unknown, what: string, location: string): unknown {
  if (err instanceof MsError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = `${what}: ${(err as Error)?.message ?? String(err)} (${location})`;
  if (typeof code === 'string' && BUSY.has(code)) {
    return new TemporaryError('MS_STORE_BUSY', message, { cause: err, hints: ['another connection holds a lock the store needs; try again'] });
  }
  if (typeof code === 'string' && CORRUPT.has(code)) return new EnvironmentError('MS_STORE_CORRUPT', message, { cause: err });
  if (code === '25006') {
    return new EnvironmentError('MS_STORE_READONLY', message, { cause: err, hints: ['run this as a user who can write the store'] });
  }
  // Connection failures (refused, no socket, authentication, no such database, shut down), disk and permission trouble.
  if (typeof code === 'string' && (/^(08|28|3D|53|57P|58)/.test(code) || /^E[A-Z]+$/.test(code) || code === '42501')) {
    return new EnvironmentError('MS_STORE_IO', message, { cause: err, hints: ['check that the PostgreSQL server is running and the URL, user and permissions are right'] });
  }
  return err;
}

export class PostgresDatabase {
  private constructor(
    readonly pool: pg.Pool,
    /** The URL as given (with any password): for reopening, never for messages. */
    readonly url: string,
    readonly readonly: boolean,
  ) {}

  /** The URL without its password, for messages. */
  get location(): string {
    return redact(this.url);
  }

  /** A pool on `url`; nothing is connected yet. Read-only pools make every transaction read-only on the server too. */
  static create(url: string, readonly: boolean, busyTimeoutMs: number): PostgresDatabase {
    const options = [`-c lock_timeout=${Math.max(1, Math.floor(busyTimeoutMs))}`];
    if (readonly) options.push('-c default_transaction_read_only=on');
    const pool = new pg.Pool({ connectionString: url, max: 4, options: options.join(' '), connectionTimeoutMillis: 10_000 });
    // An idle client's failure (the server going away) must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    return new PostgresDatabase(pool, url, readonly);
  }

  /** One statement outside any explicit transaction. */
  async query<R extends pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw storeError(err, what, this.location);
    }
  }

  /** Runs `fn` in one transaction on one connection; rolled back when it throws. */
  async transaction<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storeError(err, what, this.location);
    }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw storeError(err, what, this.location);
    } finally {
      client.release();
    }
  }

  /**
   * A write transaction holding the store's write lock (see the module comment).
   * @throws EnvironmentError (MS_STORE_READONLY) on a read-only store, before connecting.
   */
  async write<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.readonly) {
      throw new EnvironmentError('MS_STORE_READONLY', `${what}: the store ${JSON.stringify(this.location)} is open read-only`, {
        hints: ['run this as a user who can write the store'],
        data: { path: this.location },
      });
    }
    return this.transaction(what, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
      return fn(c);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
