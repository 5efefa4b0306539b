/**
 * Opening the one `Store` (types.ts) by location: a `postgres://` or `postgresql://` URL opens
 * the PostgreSQL store (src/store/postgres/, loaded only then, so SQLite users never load a
 * PostgreSQL client), anything else is the path of a SQLite file (src/store/sqlite/).
 */
import type { OpenOptions, Store } from './types.js';

export type { OpenOptions, Store } from './types.js';

/** Whether `location` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/**
 * Opens the store at `location` (a file path, or a PostgreSQL URL) and migrates its schema,
 * unless `opts.readonly` (then the schema must be current).
 * @throws EnvironmentError (MS_STORE_IO, MS_STORE_CORRUPT, MS_STORE_SCHEMA) or TemporaryError (MS_STORE_BUSY)
 */
export async function openStore(location: string, opts: OpenOptions & { journal?: 'wal' | 'rollback' } = {}): Promise<Store> {
  if (isPostgresUrl(location)) {
    const { PostgresStore } = await import('./postgres/index.js');
    return PostgresStore.open(location, { readonly: opts.readonly, busyTimeoutMs: opts.busyTimeoutMs });
  }
  const { SqliteStore } = await import('./sqlite/index.js');
  return SqliteStore.open(location, opts);
}
