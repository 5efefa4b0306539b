/**
 * The indexes written with each certificate (key rows, user IDs, folded user ID text,
 * certifications), from `deriveIndexes`, inside the transaction that writes the certificate;
 * and the certification index read back (`CertificationIndex`).
 */
import type Database from 'better-sqlite3';
import { asFingerprint, type KeyId } from '../../openpgp/fingerprint.js';
import { type Derived, reverse } from '../derive.js';
import type { CertificationIndex, CertificationRow } from '../types.js';
import { CHUNK, padded } from './chunks.js';
import type { SqliteDatabase } from './database.js';

/** Writes and removes the index rows of one certificate; call inside a write transaction. */
export class Indexer {
  private readonly s;

  /** `addresses: false` for the schema 2 migration, which runs before the address table exists. */
  constructor(
    db: Database.Database,
    opts: { addresses: boolean } = { addresses: true },
  ) {
    this.s = {
      insertKey: db.prepare<[string, string, number]>('INSERT OR IGNORE INTO cert_keys (rfpr, rkeyid, cert_id) VALUES (?, ?, ?)'),
      insertUid: db.prepare<[Buffer, number]>('INSERT OR IGNORE INTO cert_userids (uid, cert_id) VALUES (?, ?)'),
      insertAddress: opts.addresses ? db.prepare<[string, number]>('INSERT OR IGNORE INTO cert_addresses (address, cert_id) VALUES (?, ?)') : undefined,
      deleteAddresses: opts.addresses ? db.prepare<[number]>('DELETE FROM cert_addresses WHERE cert_id = ?') : undefined,
      insertText: db.prepare<[number, string]>('INSERT INTO cert_text (cert_id, folded) VALUES (?, ?)'),
      insertCertification: db.prepare<[string, number, number]>('INSERT OR IGNORE INTO certifications (issuer, cert_id, trust) VALUES (?, ?, ?)'),
      deleteKeys: db.prepare<[number]>('DELETE FROM cert_keys WHERE cert_id = ?'),
      deleteUids: db.prepare<[number]>('DELETE FROM cert_userids WHERE cert_id = ?'),
      deleteText: db.prepare<[number]>('DELETE FROM cert_text WHERE cert_id = ?'),
      textOf: db.prepare<[number], { id: number; folded: string }>('SELECT id, folded FROM cert_text WHERE cert_id = ?'),
      deleteTextRow: db.prepare<[number]>('DELETE FROM cert_text WHERE id = ?'),
      deleteCertifications: db.prepare<[number]>('DELETE FROM certifications WHERE cert_id = ?'),
    };
  }

  index(id: number, d: Derived): void {
    const s = this.s;
    for (const k of d.keys) s.insertKey.run(k.rfpr, reverse(k.keyId), id);
    for (const u of d.userIds) s.insertUid.run(u, id);
    for (const f of d.folded) s.insertText.run(id, f);
    for (const a of d.addresses) s.insertAddress?.run(a, id);
    for (const c of d.issuers) s.insertCertification.run(c.issuer, id, c.trust ? 1 : 0);
  }

  unindex(id: number): void {
    const s = this.s;
    s.deleteKeys.run(id);
    s.deleteUids.run(id);
    s.deleteAddresses?.run(id);
    s.deleteText.run(id);
    s.deleteCertifications.run(id);
  }

  /**
   * Replaces the index rows of a certificate whose bytes changed. The search text is changed
   * only where it differs: most updates add signatures, not user IDs, and each text row costs
   * its trigrams to index and to remove.
   */
  reindex(id: number, d: Derived): void {
    const s = this.s;
    s.deleteKeys.run(id);
    s.deleteUids.run(id);
    s.deleteAddresses?.run(id);
    s.deleteCertifications.run(id);
    const wanted = new Set(d.folded);
    for (const row of s.textOf.all(id)) {
      if (wanted.has(row.folded)) wanted.delete(row.folded);
      else s.deleteTextRow.run(row.id);
    }
    for (const k of d.keys) s.insertKey.run(k.rfpr, reverse(k.keyId), id);
    for (const u of d.userIds) s.insertUid.run(u, id);
    for (const f of wanted) s.insertText.run(id, f);
    for (const a of d.addresses) s.insertAddress?.run(a, id);
    for (const c of d.issuers) s.insertCertification.run(c.issuer, id, c.trust ? 1 : 0);
  }
}

type Row = { issuer: string; fpr: string; id: number; trust: number };

function toRow(r: Row): CertificationRow {
  return { target: asFingerprint(r.fpr), targetSerial: r.id, issuer: r.issuer as KeyId, trust: r.trust === 1 };
}

/** `CertificationIndex` on a `SqliteDatabase`. */
export class SqliteCertificationIndex implements CertificationIndex {
  private readonly byIssuer = new Map<number, Database.Statement<string[], Row>>();
  private readonly ofTarget: Database.Statement<[string], Row>;

  constructor(readonly database: SqliteDatabase) {
    this.ofTarget = database.db.prepare(
      'SELECT i.issuer AS issuer, c.fpr AS fpr, c.id AS id, i.trust AS trust FROM certs c JOIN certifications i ON i.cert_id = c.id WHERE c.fpr = ? ORDER BY i.issuer',
    );
  }

  private issuerStatement(n: number): Database.Statement<string[], Row> {
    let st = this.byIssuer.get(n);
    if (!st) {
      st = this.database.db.prepare(
        `SELECT i.issuer AS issuer, c.fpr AS fpr, c.id AS id, i.trust AS trust FROM certifications i JOIN certs c ON c.id = i.cert_id WHERE i.issuer IN (${new Array(n).fill('?').join(',')}) ORDER BY c.id, i.issuer`,
      );
      this.byIssuer.set(n, st);
    }
    return st;
  }

  async certifiedBy(issuers: readonly string[]): Promise<CertificationRow[]> {
    const ids = [...new Set(issuers.map((i) => i.toUpperCase()))];
    if (ids.length === 0) return [];
    return this.database.read('cannot read the certification index', () => {
      const rows: Row[] = [];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = padded(ids.slice(i, i + CHUNK));
        rows.push(...this.issuerStatement(chunk.length).all(...chunk));
      }
      if (ids.length > CHUNK) rows.sort((a, b) => a.id - b.id || (a.issuer < b.issuer ? -1 : a.issuer > b.issuer ? 1 : 0));
      return rows.map(toRow);
    });
  }

  async certificationsOf(target: string): Promise<CertificationRow[]> {
    return this.database.read('cannot read the certification index', () => this.ofTarget.all(target.toUpperCase()).map(toRow));
  }
}
