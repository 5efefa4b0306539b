/** The certification index on PostgreSQL (`CertificationIndex`): rows written with each certificate (certs.ts). */
import { asFingerprint, type KeyId } from '../../openpgp/fingerprint.js';
import type { CertificationIndex, CertificationRow } from '../types.js';
import type { PostgresDatabase } from './database.js';

type Row = { issuer: string; fpr: string; id: string; trust: boolean };

const toRow = (r: Row): CertificationRow => ({ target: asFingerprint(r.fpr), targetSerial: Number(r.id), issuer: r.issuer as KeyId, trust: r.trust });

export class PostgresCertificationIndex implements CertificationIndex {
  constructor(readonly database: PostgresDatabase) {}

  async certifiedBy(issuers: readonly string[]): Promise<CertificationRow[]> {
    const ids = [...new Set(issuers.map((i) => i.toUpperCase()))];
    if (ids.length === 0) return [];
    const rows = await this.database.query<Row>(
      'cannot read the certification index',
      'SELECT i.issuer, c.fpr, c.id, i.trust FROM certifications i JOIN certs c ON c.id = i.cert_id WHERE i.issuer = ANY($1::text[]) ORDER BY c.id, i.issuer',
      [ids],
    );
    return rows.map(toRow);
  }

  async certificationsOf(target: string): Promise<CertificationRow[]> {
    const rows = await this.database.query<Row>(
      'cannot read the certification index',
      'SELECT i.issuer, c.fpr, c.id, i.trust FROM certs c JOIN certifications i ON i.cert_id = c.id WHERE c.fpr = $1 ORDER BY i.issuer',
      [target.toUpperCase()],
    );
    return rows.map(toRow);
  }
}
