/** Small named settings on a `SqliteDatabase` (`MetaStore`). */
import type Database from 'better-sqlite3';
import type { MetaStore } from '../types.js';
import type { SqliteDatabase } from './database.js';

export class SqliteMetaStore implements MetaStore {
  private readonly getStmt: Database.Statement<[string], { value: string }>;
  private readonly setStmt: Database.Statement<[string, string]>;
  private readonly deleteStmt: Database.Statement<[string]>;

  constructor(readonly database: SqliteDatabase) {
    const db = database.db;
    this.getStmt = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.setStmt = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    this.deleteStmt = db.prepare('DELETE FROM meta WHERE key = ?');
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.database.read('cannot read meta', () => this.getStmt.get(key)?.value);
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.database.write('cannot write meta', () => this.setStmt.run(key, value));
  }

  async deleteMeta(key: string): Promise<boolean> {
    return this.database.write('cannot write meta', () => this.deleteStmt.run(key).changes > 0);
  }
}
