/**
 * Text search over user IDs on a `SqliteDatabase` (`UserIdSearch`). Each user ID is stored
 * folded (derive.ts `foldText`) in `cert_text`, with an FTS5 trigram index: a query of 3 or
 * more characters is a phrase match on the index (then checked with instr, so the answer is
 * exactly "contains"); a shorter one cannot use trigrams and scans the folded text.
 */
import type Database from 'better-sqlite3';
import { checkSearchText, foldText } from '../derive.js';
import type { StoredCert, UserIdSearch } from '../types.js';
import { type CertRow, storedCert } from './certs.js';
import type { SqliteDatabase } from './database.js';

const COLUMNS = 'id, fpr, data, created, updated, digest';

export class SqliteUserIdSearch implements UserIdSearch {
  private readonly indexed: (limit: number) => Database.Statement<[string, string], CertRow>;
  private readonly scan: (limit: number) => Database.Statement<[string], CertRow>;

  constructor(readonly database: SqliteDatabase) {
    this.indexed = database.limited(
      (limit) => `SELECT ${COLUMNS} FROM certs WHERE id IN (
         SELECT t.cert_id FROM cert_text_fts f JOIN cert_text t ON t.id = f.rowid WHERE cert_text_fts MATCH ? AND instr(t.folded, ?) > 0
       ) ORDER BY fpr LIMIT ${limit}`,
    );
    this.scan = database.limited(
      (limit) => `SELECT ${COLUMNS} FROM certs WHERE id IN (SELECT cert_id FROM cert_text WHERE instr(folded, ?) > 0) ORDER BY fpr LIMIT ${limit}`,
    );
  }

  async searchUserIds(text: string, limit: number): Promise<StoredCert[]> {
    checkSearchText(text);
    if (limit <= 0) return [];
    const folded = foldText(text);
    return this.database.read('cannot search user IDs', () => {
      // Trigrams are of characters (code points), so a query needs 3 of them to use the index.
      const rows = [...folded].length >= 3 ? this.indexed(limit).all(`"${folded.replaceAll('"', '""')}"`, folded) : this.scan(limit).all(folded);
      return rows.map(storedCert);
    });
  }
}
