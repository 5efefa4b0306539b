/**
 * Notes on stored certificates (`CertNotes`) on PostgreSQL: one row per certificate
 * (`cert_notes`, schema 5), stored only while the certificate still has the digest the note was
 * computed from, and deleted by certs.ts in the transaction that changes or deletes the bytes.
 */
import { loadedTime, storedTime, type TimeWindow } from '../../cert/time-window.js';
import type { UnixTime } from '../../clock.js';
import type { CertNote, CertNotes, StoredCert } from '../types.js';
import { withoutWaiting } from './caches.js';
import type { PostgresDatabase } from './database.js';

export class PostgresCertNotes implements CertNotes {
  constructor(readonly database: PostgresDatabase) {}

  async get(certs: ReadonlyArray<Pick<StoredCert, 'serial' | 'digest'>>, at: UnixTime): Promise<Map<number, { data: Buffer; window: TimeWindow }>> {
    const out = new Map<number, { data: Buffer; window: TimeWindow }>();
    if (certs.length === 0) return out;
    try {
      const rows = await this.database.query<{ cert_id: string; digest: Buffer; data: Buffer; valid_after: string; valid_before: string }>(
        'cannot read notes',
        'SELECT cert_id, digest, data, valid_after, valid_before FROM cert_notes WHERE cert_id = ANY($1::bigint[]) AND valid_after < $2 AND valid_before > $2',
        [certs.map((c) => c.serial), at],
      );
      const wanted = new Map(certs.map((c) => [c.serial, c.digest]));
      for (const row of rows) {
        const serial = Number(row.cert_id);
        if (wanted.get(serial)?.equals(row.digest)) out.set(serial, { data: row.data, window: { after: loadedTime(Number(row.valid_after)), before: loadedTime(Number(row.valid_before)) } });
      }
    } catch {
      // A cache: an unreadable note is computed again.
    }
    return out;
  }

  async put(notes: readonly CertNote[]): Promise<number> {
    if (notes.length === 0) return 0;
    // One row per certificate (the last note given): an upsert cannot touch a row twice.
    const last = [...new Map(notes.map((n) => [n.serial, n])).values()];
    let n = 0;
    // A lookup may write notes: it never waits for another writer to do so (caches.ts).
    const stored = await withoutWaiting(this.database, async (c) => {
      // Only beside the bytes it was computed from: the row is taken from certs when the digest still matches.
      const r = await c.query<{ cert_id: string }>(
        `INSERT INTO cert_notes (cert_id, digest, valid_after, valid_before, data)
           SELECT c.id, c.digest, n.after, n.before, n.data
             FROM unnest($1::bigint[], $2::bytea[], $3::bigint[], $4::bigint[], $5::bytea[]) AS n(id, digest, after, before, data)
             JOIN certs c ON c.id = n.id AND c.digest = n.digest
         ON CONFLICT (cert_id) DO UPDATE SET digest = excluded.digest, valid_after = excluded.valid_after, valid_before = excluded.valid_before, data = excluded.data
         RETURNING cert_id`,
        [
          last.map((n) => n.serial),
          last.map((n) => n.digest),
          last.map((n) => storedTime(n.window.after)),
          last.map((n) => storedTime(n.window.before)),
          last.map((n) => n.data),
        ],
      );
      n = r.rows.length;
    });
    return stored ? n : 0;
  }
}
