/**
 * Computed results reused while their inputs are unchanged (`SnapshotStore`) on a
 * `SqliteDatabase`: each valid only for reference times inside its window, so a result that
 * depends on expiry is never served stale. Best effort: a write never waits for another writer
 * and never fails the caller; at most SNAPSHOTS_KEPT are kept, the least recently used go first.
 */
import type Database from 'better-sqlite3';
import { loadedTime as loaded, storedTime as stored, type TimeWindow } from '../../cert/time-window.js';
import type { UnixTime } from '../../clock.js';
import type { SnapshotStore } from '../types.js';
import type { SqliteDatabase } from './database.js';

/** Snapshots kept per database; the least recently used go first. */
export const SNAPSHOTS_KEPT = 8;


type Row = { data: Buffer; valid_after: number; valid_before: number };

export class SqliteSnapshotStore implements SnapshotStore {
  private readonly getStmt: Database.Statement<[Buffer, number, number], Row>;
  private readonly touchStmt: Database.Statement<[number, Buffer, number]>;
  private readonly putStmt: Database.Statement<[Buffer, number, number, Buffer, number]>;
  private readonly pruneStmt: Database.Statement<[number]>;
  private readonly maxUseStmt: Database.Statement<[], { m: number }>;
  private uses = 0;

  /** The snapshots of an open database (the table exists from schema 2 on); kept for callers of the old API. */
  static open(database: SqliteDatabase): SqliteSnapshotStore | undefined {
    try {
      return new SqliteSnapshotStore(database);
    } catch {
      return undefined;
    }
  }

  constructor(readonly database: SqliteDatabase) {
    const db = database.db;
    this.getStmt = db.prepare('SELECT data, valid_after, valid_before FROM snapshots WHERE key = ? AND valid_after < ? AND valid_before > ? LIMIT 1');
    this.touchStmt = db.prepare('UPDATE snapshots SET used = ? WHERE key = ? AND valid_after = ?');
    this.putStmt = db.prepare(
      'INSERT INTO snapshots (key, valid_after, valid_before, data, used) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key, valid_after) DO UPDATE SET valid_before = excluded.valid_before, data = excluded.data, used = excluded.used',
    );
    this.pruneStmt = db.prepare('DELETE FROM snapshots WHERE (key, valid_after) NOT IN (SELECT key, valid_after FROM snapshots ORDER BY used DESC LIMIT ?)');
    this.maxUseStmt = db.prepare('SELECT coalesce(max(used), 0) AS m FROM snapshots');
  }

  /** A monotonic use counter: wall-clock time would tie within a second and may go backwards. */
  private nextUse(): number {
    this.uses = Math.max(this.uses, this.maxUseStmt.get()!.m) + 1;
    return this.uses;
  }

  async get(key: Buffer, at: UnixTime): Promise<{ data: Buffer; window: TimeWindow } | undefined> {
    let row: Row | undefined;
    try {
      row = this.getStmt.get(key, at, at);
    } catch {
      return undefined;
    }
    if (!row) return undefined;
    const found = row;
    this.database.tryWrite(() => this.touchStmt.run(this.nextUse(), key, found.valid_after));
    return { data: row.data, window: { after: loaded(row.valid_after), before: loaded(row.valid_before) } };
  }

  async put(key: Buffer, window: TimeWindow, data: Buffer): Promise<boolean> {
    return this.database.tryWrite(() => {
      this.putStmt.run(key, stored(window.after), stored(window.before), data, this.nextUse());
      this.pruneStmt.run(SNAPSHOTS_KEPT);
    });
  }
}
