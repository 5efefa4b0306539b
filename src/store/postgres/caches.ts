/**
 * The two best-effort caches on PostgreSQL: snapshots (`SnapshotStore`) and verification
 * results (`VerificationCache`). They only save work, so a write that would wait for a lock
 * (lock_timeout of 1 ms) or fails is skipped rather than delaying or failing the answer, and a
 * read-only store keeps nothing.
 */
import type pg from 'pg';
import { loadedTime as loaded, storedTime as stored, type TimeWindow } from '../../cert/time-window.js';
import type { UnixTime } from '../../clock.js';
import type { VerificationCache } from '../../verify/cache.js';
import type { SnapshotStore } from '../types.js';
import type { PostgresDatabase } from './database.js';

/** Snapshots kept per database; the least recently used go first (as on SQLite). */
export const SNAPSHOTS_KEPT = 8;


/** Runs `fn` in a transaction that gives up at once on a lock; false when it did not happen. */
export async function withoutWaiting(database: PostgresDatabase, fn: (c: pg.PoolClient) => Promise<unknown>): Promise<boolean> {
  if (database.readonly) return false;
  try {
    await database.transaction('cannot write a cache', async (c) => {
      await c.query("SET LOCAL lock_timeout = '1ms'");
      await fn(c);
    });
    return true;
  } catch {
    return false;
  }
}

export class PostgresSnapshotStore implements SnapshotStore {
  constructor(readonly database: PostgresDatabase) {}

  async get(key: Buffer, at: UnixTime): Promise<{ data: Buffer; window: TimeWindow } | undefined> {
    let row: { data: Buffer; valid_after: string; valid_before: string } | undefined;
    try {
      row = (
        await this.database.query<{ data: Buffer; valid_after: string; valid_before: string }>(
          'cannot read snapshots',
          'SELECT data, valid_after, valid_before FROM snapshots WHERE key = $1 AND valid_after < $2 AND valid_before > $2 LIMIT 1',
          [key, at],
        )
      )[0];
    } catch {
      return undefined;
    }
    if (!row) return undefined;
    const after = row.valid_after;
    await withoutWaiting(this.database, (c) => c.query('UPDATE snapshots SET used = (SELECT coalesce(max(used), 0) + 1 FROM snapshots) WHERE key = $1 AND valid_after = $2', [key, after]));
    return { data: row.data, window: { after: loaded(Number(row.valid_after)), before: loaded(Number(row.valid_before)) } };
  }

  async put(key: Buffer, window: TimeWindow, data: Buffer): Promise<boolean> {
    return withoutWaiting(this.database, async (c) => {
      await c.query(
        `INSERT INTO snapshots (key, valid_after, valid_before, data, used) VALUES ($1, $2, $3, $4, (SELECT coalesce(max(used), 0) + 1 FROM snapshots))
         ON CONFLICT (key, valid_after) DO UPDATE SET valid_before = excluded.valid_before, data = excluded.data, used = excluded.used`,
        [key, stored(window.after), stored(window.before), data],
      );
      await c.query('DELETE FROM snapshots WHERE (key, valid_after) NOT IN (SELECT key, valid_after FROM snapshots ORDER BY used DESC LIMIT $1)', [SNAPSHOTS_KEPT]);
    });
  }
}

/** Keys per lookup: one round trip each. */
const LOOKUP_CHUNK = 5000;

export class PostgresVerificationCache implements VerificationCache {
  constructor(readonly database: PostgresDatabase) {}

  async lookup(keys: Buffer[]): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
      const rows = await this.database.query<{ k: string; good: boolean }>(
        'cannot read the verification cache',
        "SELECT encode(key, 'hex') AS k, good FROM verification_cache WHERE key = ANY($1::bytea[])",
        [keys.slice(i, i + LOOKUP_CHUNK)],
      );
      for (const r of rows) out.set(r.k, r.good);
    }
    return out;
  }

  async record(entries: Array<[Buffer, boolean]>): Promise<void> {
    if (entries.length === 0) return;
    // One row per key (the last outcome given wins): an upsert may not touch a row twice.
    const byKey = new Map<string, [Buffer, boolean]>();
    for (const e of entries) byKey.set(e[0].toString('hex'), e);
    const unique = [...byKey.values()];
    await withoutWaiting(this.database, async (c) => {
      for (let i = 0; i < unique.length; i += LOOKUP_CHUNK) {
        const part = unique.slice(i, i + LOOKUP_CHUNK);
        await c.query(
          'INSERT INTO verification_cache (key, good) SELECT * FROM unnest($1::bytea[], $2::boolean[]) ON CONFLICT (key) DO UPDATE SET good = excluded.good',
          [part.map((e) => e[0]), part.map((e) => e[1])],
        );
      }
    });
  }

  /** Number of cached outcomes. */
  async size(): Promise<number> {
    return Number((await this.database.query<{ n: string }>('cannot read the verification cache', 'SELECT count(*) AS n FROM verification_cache'))[0].n);
  }
}
