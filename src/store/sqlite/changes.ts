/**
 * The change feed on a `SqliteDatabase` (`ChangeFeed`): rows are appended by the certificate
 * writes themselves (certs.ts), in their transaction; here they are read and pruned.
 * `seq` is an AUTOINCREMENT key, so it keeps increasing after a prune, and `latest()` reads the
 * high-water mark SQLite keeps for it rather than the rows left.
 */
import type Database from 'better-sqlite3';
import { asFingerprint } from '../../openpgp/fingerprint.js';
import type { Change, ChangeFeed } from '../types.js';
import type { SqliteDatabase } from './database.js';

type Row = { seq: number; fpr: string; added: Buffer | null; removed: Buffer | null; at: number };

export class SqliteChangeFeed implements ChangeFeed {
  private readonly latestStmt: Database.Statement<[], { seq: number }>;
  private readonly sinceStmt: (limit: number) => Database.Statement<[number], Row>;
  private readonly pruneStmt: Database.Statement<[number]>;

  constructor(readonly database: SqliteDatabase) {
    const db = database.db;
    this.latestStmt = db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0) AS seq");
    this.sinceStmt = database.limited((limit) => `SELECT seq, fpr, added, removed, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ${limit}`);
    this.pruneStmt = db.prepare('DELETE FROM changes WHERE seq <= ?');
  }

  /** Inside a read or write transaction of the caller, or on its own. */
  latestNow(): number {
    return this.latestStmt.get()!.seq;
  }

  async latest(): Promise<number> {
    return this.database.read('cannot read the change feed', () => this.latestNow());
  }

  async since(after: number, limit: number): Promise<Change[]> {
    if (limit <= 0) return [];
    return this.database.read('cannot read the change feed', () =>
      this.sinceStmt(limit).all(after).map((r) => {
        const c: Change = { seq: r.seq, fpr: asFingerprint(r.fpr), at: r.at };
        if (r.added) c.added = r.added;
        if (r.removed) c.removed = r.removed;
        return c;
      }),
    );
  }

  async prune(upTo: number): Promise<number> {
    return this.database.write('cannot prune the change feed', () => this.pruneStmt.run(upTo).changes);
  }
}
