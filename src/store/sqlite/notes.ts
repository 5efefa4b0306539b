/**
 * Notes on stored certificates (`CertNotes`) on a `SqliteDatabase`: one row per certificate
 * (`cert_notes`, schema 7), stored only while the certificate still has the digest the note was
 * computed from, and deleted by certs.ts in the transaction that changes or deletes the bytes.
 */
import type Database from 'better-sqlite3';
import { loadedTime, storedTime, type TimeWindow } from '../../cert/time-window.js';
import type { UnixTime } from '../../clock.js';
import type { CertNote, CertNotes, StoredCert } from '../types.js';
import type { SqliteDatabase } from './database.js';

export class SqliteCertNotes implements CertNotes {
  private readonly getStmt: Database.Statement<[number, number, number], { digest: Buffer; data: Buffer; valid_after: number; valid_before: number }>;
  private readonly putStmt: Database.Statement<[number, number, Buffer, number, Buffer]>;

  constructor(readonly database: SqliteDatabase) {
    const db = database.db;
    this.getStmt = db.prepare('SELECT digest, data, valid_after, valid_before FROM cert_notes WHERE cert_id = ? AND valid_after < ? AND valid_before > ?');
    // Only beside the bytes it was computed from: the row is copied from certs when the digest still matches.
    this.putStmt = db.prepare(
      `INSERT INTO cert_notes (cert_id, digest, valid_after, valid_before, data) SELECT id, digest, ?, ?, ? FROM certs WHERE id = ? AND digest = ?
       ON CONFLICT (cert_id) DO UPDATE SET digest = excluded.digest, valid_after = excluded.valid_after, valid_before = excluded.valid_before, data = excluded.data`,
    );
  }

  async get(certs: ReadonlyArray<Pick<StoredCert, 'serial' | 'digest'>>, at: UnixTime): Promise<Map<number, { data: Buffer; window: TimeWindow }>> {
    const out = new Map<number, { data: Buffer; window: TimeWindow }>();
    try {
      for (const c of certs) {
        const row = this.getStmt.get(c.serial, at, at);
        if (row?.digest.equals(c.digest)) out.set(c.serial, { data: row.data, window: { after: loadedTime(row.valid_after), before: loadedTime(row.valid_before) } });
      }
    } catch {
      // A cache: an unreadable note is computed again.
    }
    return out;
  }

  async put(notes: readonly CertNote[]): Promise<number> {
    if (notes.length === 0) return 0;
    // A lookup may write notes: it never waits for another writer (an import) to do so.
    let n = 0;
    const stored = this.database.tryWrite(() => {
      for (const note of notes) n += this.putStmt.run(storedTime(note.window.after), storedTime(note.window.before), note.data, note.serial, note.digest).changes;
    });
    return stored ? n : 0;
  }
}
