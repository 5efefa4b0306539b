/**
 * The signature verification cache on a `SqliteDatabase` (`VerificationCache`): one row per
 * checked signature, outcome good (1) or bad (0). Lookups are hot (every signature check of a
 * login or a keyring evaluation): one prepared statement takes 500 keys at once and hands back
 * hex text, so a lookup costs a statement per 500 keys and no Buffer per row.
 */
import type Database from 'better-sqlite3';
import type { VerificationCache } from '../../verify/cache.js';
import type { SqliteDatabase } from './database.js';

/** Keys per lookup statement: well under SQLite's variable limit, big enough to amortize each call. */
const LOOKUP_CHUNK = 500;

export class SqliteVerificationCache implements VerificationCache {
  private readonly lookupFull: Database.Statement<Buffer[], [string, number]>;
  private readonly lookupOne: Database.Statement<[Buffer], [string, number]>;
  private readonly upsert: Database.Statement<[Buffer, number]>;
  private readonly countStmt: Database.Statement<[], { n: number }>;

  constructor(readonly database: SqliteDatabase) {
    const db = database.db;
    const marks = new Array(LOOKUP_CHUNK).fill('?').join(',');
    // SQLite hands back the key as hex text: cheaper than a Buffer per row turned into hex here.
    this.lookupFull = db.prepare<Buffer[], [string, number]>(`SELECT lower(hex(key)), good FROM verification_cache WHERE key IN (${marks})`).raw(true);
    this.lookupOne = db.prepare<[Buffer], [string, number]>('SELECT lower(hex(key)), good FROM verification_cache WHERE key = ?').raw(true);
    this.upsert = db.prepare('INSERT INTO verification_cache (key, good) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET good = excluded.good');
    this.countStmt = db.prepare('SELECT count(*) AS n FROM verification_cache');
  }

  async lookup(keys: Buffer[]): Promise<Map<string, boolean>> {
    return this.database.read('cannot read the verification cache', () => {
      const out = new Map<string, boolean>();
      const take = (rows: Array<[string, number]>) => {
        for (const [k, good] of rows) out.set(k, good === 1);
      };
      for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
        const chunk = keys.slice(i, i + LOOKUP_CHUNK);
        if (chunk.length === 1) take(this.lookupOne.all(chunk[0]));
        else {
          // The last chunk is padded with repeats of its first key: IN is a set, so repeats add nothing.
          while (chunk.length < LOOKUP_CHUNK) chunk.push(chunk[0]);
          take(this.lookupFull.all(...chunk));
        }
      }
      return out;
    });
  }

  /** Remembers outcomes; on a read-only store it keeps nothing (a cache only saves work). */
  async record(entries: Array<[Buffer, boolean]>): Promise<void> {
    if (entries.length === 0 || this.database.readonly) return;
    this.database.write('cannot write the verification cache', () => {
      for (const [k, good] of entries) this.upsert.run(k, good ? 1 : 0);
    });
  }

  /** Number of cached outcomes. */
  async size(): Promise<number> {
    return this.database.read('cannot read the verification cache', () => this.countStmt.get()!.n);
  }

  /** Forgets every cached outcome. */
  async clear(): Promise<void> {
    this.database.write('cannot clear the verification cache', () => this.database.db.exec('DELETE FROM verification_cache'));
  }
}
