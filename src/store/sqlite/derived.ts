/**
 * Tables computed from the certificates on a `SqliteDatabase` (`DerivedTables`): one table
 * `derived` (name, key, ord, value) for all of them, and a stamp per name. A table is replaced
 * whole, in one transaction, and only while the change feed is still at the seq it was
 * computed from; the check and the write share the write lock, so no certificate write slips
 * in between.
 */
import type Database from 'better-sqlite3';
import type { DerivedTables } from '../types.js';
import type { SqliteChangeFeed } from './changes.js';
import type { SqliteDatabase } from './database.js';

export class SqliteDerivedTables implements DerivedTables {
  private readonly stampStmt: Database.Statement<[string], { stamp: string; seq: number }>;
  private readonly lookupStmt: Database.Statement<[string, string], { value: string }>;
  private readonly clearStmt: Database.Statement<[string]>;
  private readonly insertStmt: Database.Statement<[string, string, number, string]>;
  private readonly setStampStmt: Database.Statement<[string, string, number]>;

  constructor(
    readonly database: SqliteDatabase,
    private readonly changes: SqliteChangeFeed,
  ) {
    const db = database.db;
    this.stampStmt = db.prepare('SELECT stamp, seq FROM derived_stamps WHERE name = ?');
    this.lookupStmt = db.prepare('SELECT value FROM derived WHERE name = ? AND key = ? ORDER BY ord');
    this.clearStmt = db.prepare('DELETE FROM derived WHERE name = ?');
    this.insertStmt = db.prepare('INSERT INTO derived (name, key, ord, value) VALUES (?, ?, ?, ?)');
    this.setStampStmt = db.prepare(
      'INSERT INTO derived_stamps (name, stamp, seq) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET stamp = excluded.stamp, seq = excluded.seq',
    );
  }

  async stamp(name: string): Promise<{ stamp: string; seq: number } | undefined> {
    return this.database.read('cannot read a derived table', () => {
      const r = this.stampStmt.get(name);
      return r ? { stamp: r.stamp, seq: r.seq } : undefined;
    });
  }

  async lookup(name: string, key: string): Promise<string[]> {
    return this.database.read('cannot read a derived table', () => this.lookupStmt.all(name, key).map((r) => r.value));
  }

  async replace(name: string, stamp: string, seq: number, rows: ReadonlyArray<readonly [key: string, value: string]>): Promise<boolean> {
    return this.database.write(`cannot replace derived table ${JSON.stringify(name)}`, () => {
      if (this.changes.latestNow() !== seq) return false;
      this.clearStmt.run(name);
      rows.forEach(([key, value], i) => {
        this.insertStmt.run(name, key, i, value);
      });
      this.setStampStmt.run(name, stamp, seq);
      return true;
    });
  }
}
