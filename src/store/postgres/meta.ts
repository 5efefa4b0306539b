/** Small named settings on PostgreSQL (`MetaStore`). */
import type { MetaStore } from '../types.js';
import type { PostgresDatabase } from './database.js';

export class PostgresMetaStore implements MetaStore {
  constructor(readonly database: PostgresDatabase) {}

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.database.query<{ value: string }>('cannot read meta', 'SELECT value FROM meta WHERE key = $1', [key]))[0]?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.database.write('cannot write meta', (c) => c.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]));
  }

  async deleteMeta(key: string): Promise<boolean> {
    return this.database.write('cannot write meta', async (c) => ((await c.query('DELETE FROM meta WHERE key = $1', [key])).rowCount ?? 0) > 0);
  }
}
