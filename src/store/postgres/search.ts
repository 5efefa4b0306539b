/**
 * Text search over user IDs on PostgreSQL (`UserIdSearch`): the folded text (derive.ts
 * `foldText`) matched with LIKE '%…%', which pg_trgm's GIN index answers for 3 or more
 * characters (without the extension, a scan gives the same answer).
 */
import { checkSearchText, foldText } from '../derive.js';
import type { StoredCert, UserIdSearch } from '../types.js';
import { COLUMNS, type CertRow, storedCert } from './certs.js';
import type { PostgresDatabase } from './database.js';

/** LIKE matches `text` literally once its wildcards and the escape character are escaped. */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export class PostgresUserIdSearch implements UserIdSearch {
  constructor(readonly database: PostgresDatabase) {}

  async searchUserIds(text: string, limit: number): Promise<StoredCert[]> {
    checkSearchText(text);
    if (limit <= 0) return [];
    const rows = await this.database.query<CertRow>(
      'cannot search user IDs',
      `SELECT ${COLUMNS} FROM certs WHERE id IN (SELECT cert_id FROM cert_text WHERE folded LIKE $1) ORDER BY fpr LIMIT $2`,
      [`%${likeLiteral(foldText(text))}%`, limit],
    );
    return rows.map(storedCert);
  }
}
