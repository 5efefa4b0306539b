/**
 * The change feed and derived tables on PostgreSQL (`ChangeFeed`, `DerivedTables`). Changes
 * are appended by the certificate writes (certs.ts `appendChange`); the high-water mark lives
 * in the one-row `feed` table, written in the same transaction, so `latest()` never shows a
 * change that has not committed and stays put after a prune. A derived table is replaced under
 * the store's write lock, only while the feed is still at the seq it was computed from.
 */
import { asFingerprint } from '../../openpgp/fingerprint.js';
import type { Change, ChangeFeed, DerivedTables } from '../types.js';
import type { PostgresDatabase } from './database.js';

type Row = { seq: string; fpr: string; added: Buffer | null; removed: Buffer | null; at: string };

export class PostgresChangeFeed implements ChangeFeed {
  constructor(readonly database: PostgresDatabase) {}

  async latest(): Promise<number> {
    const rows = await this.database.query<{ latest: string }>('cannot read the change feed', 'SELECT latest FROM feed WHERE id = 1');
    return Number(rows[0].latest);
  }

  async since(after: number, limit: number): Promise<Change[]> {
    if (limit <= 0) return [];
    const rows = await this.database.query<Row>('cannot read the change feed', 'SELECT seq, fpr, added, removed, at FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2', [after, limit]);
    return rows.map((r) => {
      const c: Change = { seq: Number(r.seq), fpr: asFingerprint(r.fpr), at: Number(r.at) };
      if (r.added) c.added = r.added;
      if (r.removed) c.removed = r.removed;
      return c;
    });
  }

  async prune(upTo: number): Promise<number> {
    return this.database.write('cannot prune the change feed', async (c) => (await c.query('DELETE FROM changes WHERE seq <= $1', [upTo])).rowCount ?? 0);
  }
}

export class PostgresDerivedTables implements DerivedTables {
  constructor(readonly database: PostgresDatabase) {}

  async stamp(name: string): Promise<{ stamp: string; seq: number } | undefined> {
    const rows = await this.database.query<{ stamp: string; seq: string }>('cannot read a derived table', 'SELECT stamp, seq FROM derived_stamps WHERE name = $1', [name]);
    return rows[0] ? { stamp: rows[0].stamp, seq: Number(rows[0].seq) } : undefined;
  }

  async lookup(name: string, key: string): Promise<string[]> {
    const rows = await this.database.query<{ value: string }>('cannot read a derived table', 'SELECT value FROM derived WHERE name = $1 AND key = $2 ORDER BY ord', [name, key]);
    return rows.map((r) => r.value);
  }

  async replace(name: string, stamp: string, seq: number, rows: ReadonlyArray<readonly [key: string, value: string]>): Promise<boolean> {
    return this.database.write(`cannot replace derived table ${JSON.stringify(name)}`, async (c) => {
      const latest = Number((await c.query<{ latest: string }>('SELECT latest FROM feed WHERE id = 1')).rows[0].latest);
      if (latest !== seq) return false;
      await c.query('DELETE FROM derived WHERE name = $1', [name]);
      const BATCH = 5000;
      for (let i = 0; i < rows.length; i += BATCH) {
        const part = rows.slice(i, i + BATCH);
        await c.query('INSERT INTO derived (name, key, ord, value) SELECT $1, k, o, v FROM unnest($2::text[], $3::int[], $4::text[]) AS t(k, o, v)', [
          name,
          part.map((r) => r[0]),
          part.map((_, j) => i + j),
          part.map((r) => r[1]),
        ]);
      }
      await c.query('INSERT INTO derived_stamps (name, stamp, seq) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET stamp = excluded.stamp, seq = excluded.seq', [name, stamp, seq]);
      return true;
    });
  }
}
