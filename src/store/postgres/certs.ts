/**
 * Certificates on PostgreSQL (`CertStore`, `DigestIndex`): the same rules as the SQLite store
 * (src/store/sqlite/certs.ts): canonical storage, the unchanged fast path, and with every
 * write that changes bytes, in its transaction and under the write lock, the index rows
 * (`deriveIndexes`) and a change in the feed.
 */
import type pg from 'pg';
import type { Cert } from '../../openpgp/cert.js';
import { asFingerprint, type Fingerprint, type KeyId } from '../../openpgp/fingerprint.js';
import { canonicalCert } from '../../openpgp/merge.js';
import { foldAddress } from '../../openpgp/user-id.js';
import { bytesToPut, checkReplacement, keyIdRanges, LazyStoredCert, parseStored, refuseSecret, reversedFingerprint, sortKeyIdPairs, storedBytes } from '../cert-rules.js';
import { type Derived, deriveIndexes, reverse } from '../derive.js';
import type { CertStore, DigestIndex, PutResult, StoredCert } from '../types.js';
import type { PostgresDatabase, Queryable } from './database.js';

export interface CertRow {
  id: string;
  fpr: string;
  data: Buffer;
  created: string;
  updated: string;
  digest: Buffer;
}

export const COLUMNS = 'id, fpr, data, created, updated, digest';

export function storedCert(row: CertRow): StoredCert {
  return new LazyStoredCert(row.fpr, row.data, Number(row.created), Number(row.updated), row.digest, Number(row.id));
}

const PAGE = 256;

/** Writes the index rows of a certificate (inside the write transaction). */
async function index(c: Queryable, id: string, d: Derived): Promise<void> {
  if (d.keys.length > 0) {
    await c.query('INSERT INTO cert_keys (rfpr, rkeyid, cert_id) SELECT r, k, $3 FROM unnest($1::text[], $2::text[]) AS t(r, k) ON CONFLICT DO NOTHING', [
      d.keys.map((k) => k.rfpr),
      d.keys.map((k) => reverse(k.keyId)),
      id,
    ]);
  }
  if (d.userIds.length > 0) await c.query('INSERT INTO cert_userids (uid, cert_id) SELECT u, $2 FROM unnest($1::bytea[]) AS t(u) ON CONFLICT DO NOTHING', [d.userIds, id]);
  if (d.folded.length > 0) await c.query('INSERT INTO cert_text (cert_id, folded) SELECT $2, f FROM unnest($1::text[]) AS t(f)', [d.folded, id]);
  if (d.addresses.length > 0) await c.query('INSERT INTO cert_addresses (address, cert_id) SELECT a, $2 FROM unnest($1::text[]) AS t(a)', [d.addresses, id]);
  if (d.issuers.length > 0) {
    await c.query('INSERT INTO certifications (issuer, cert_id, trust) SELECT i, $3, t FROM unnest($1::text[], $2::boolean[]) AS x(i, t) ON CONFLICT DO NOTHING', [
      d.issuers.map((i) => i.issuer),
      d.issuers.map((i) => i.trust),
      id,
    ]);
  }
}

async function unindex(c: Queryable, id: string): Promise<void> {
  // A note holds for the bytes it was computed from (notes.ts): gone with them.
  for (const table of ['cert_keys', 'cert_userids', 'cert_text', 'cert_addresses', 'certifications', 'cert_notes']) await c.query(`DELETE FROM ${table} WHERE cert_id = $1`, [id]);
}

/** Appends a change and returns its seq (inside the write transaction: gapless, in commit order). */
export async function appendChange(c: Queryable, fpr: string, added: Buffer | null, removed: Buffer | null, at: number): Promise<number> {
  const r = await c.query<{ latest: string }>('UPDATE feed SET latest = latest + 1 WHERE id = 1 RETURNING latest');
  const seq = r.rows[0].latest;
  await c.query('INSERT INTO changes (seq, fpr, added, removed, at) VALUES ($1, $2, $3, $4, $5)', [seq, fpr, added, removed, at]);
  return Number(seq);
}

export class PostgresCertStore implements CertStore {
  constructor(readonly database: PostgresDatabase) {}

  async put(cert: Cert, now: number): Promise<PutResult> {
    refuseSecret(cert);
    return this.database.write(`cannot store certificate ${cert.primary.fpr}`, (c) => this.putOne(c, cert, now));
  }

  async putMany(certs: Iterable<Cert>, now: number): Promise<PutResult[]> {
    const list = [...certs];
    for (const cert of list) refuseSecret(cert);
    return this.database.write('cannot store certificates', async (c) => {
      const out: PutResult[] = [];
      for (const cert of list) out.push(await this.putOne(c, cert, now));
      return out;
    });
  }

  private async row(c: Queryable, fpr: string): Promise<CertRow | undefined> {
    return (await c.query<CertRow>(`SELECT ${COLUMNS} FROM certs WHERE fpr = $1`, [fpr])).rows[0];
  }

  /** Inside a write transaction. */
  private async putOne(c: pg.PoolClient, cert: Cert, now: number): Promise<PutResult> {
    const fpr = asFingerprint(cert.primary.fpr);
    const row = await this.row(c, fpr);
    const next = bytesToPut(cert, row?.data);
    if ('unchanged' in next) return { fpr, status: 'unchanged', cert: next.unchanged, bytes: row!.data, digest: row!.digest, serial: Number(row!.id) };
    return this.write(c, row, fpr, next.bytes, now);
  }

  /** New bytes for a certificate (inside a write transaction): the row, its indexes, a change. */
  private async write(c: pg.PoolClient, row: CertRow | undefined, fpr: Fingerprint, bytes: Buffer, now: number): Promise<PutResult> {
    const cert = parseStored(fpr, bytes);
    const derived = deriveIndexes(cert);
    if (!row) {
      const r = await c.query<{ id: string }>('INSERT INTO certs (fpr, data, created, updated, digest) VALUES ($1, $2, $3, $3, $4) RETURNING id', [fpr, bytes, now, derived.digest]);
      await index(c, r.rows[0].id, derived);
      await appendChange(c, fpr, derived.digest, null, now);
      return { fpr, status: 'inserted', cert, bytes, digest: derived.digest, serial: Number(r.rows[0].id) };
    }
    await c.query('UPDATE certs SET data = $1, updated = $2, digest = $3 WHERE id = $4', [bytes, now, derived.digest, row.id]);
    await unindex(c, row.id);
    await index(c, row.id, derived);
    await appendChange(c, fpr, derived.digest, row.digest, now);
    return { fpr, status: 'updated', cert, bytes, digest: derived.digest, serial: Number(row.id) };
  }

  async replace(fpr: string, expected: Buffer, cert: Cert, now: number): Promise<PutResult | undefined> {
    const target = asFingerprint(fpr);
    checkReplacement(target, cert);
    return this.database.write(`cannot replace certificate ${target}`, async (c) => {
      const row = await this.row(c, target);
      if (!row?.data.equals(expected)) return undefined;
      const bytes = storedBytes(canonicalCert(cert));
      if (bytes.equals(row.data)) return { fpr: target, status: 'unchanged' as const, cert: parseStored(target, row.data), bytes: row.data, digest: row.digest, serial: Number(row.id) };
      return this.write(c, row, target, bytes, now);
    });
  }

  async get(fpr: string): Promise<StoredCert | undefined> {
    const rows = await this.database.query<CertRow>('cannot read certificate', `SELECT ${COLUMNS} FROM certs WHERE fpr = $1`, [asFingerprint(fpr)]);
    return rows[0] ? storedCert(rows[0]) : undefined;
  }

  async getMany(fprs: readonly string[]): Promise<StoredCert[]> {
    const wanted = fprs.map(asFingerprint);
    if (wanted.length === 0) return [];
    const rows = await this.database.query<CertRow>('cannot read certificates', `SELECT ${COLUMNS} FROM certs WHERE fpr = ANY($1::text[])`, [[...new Set(wanted)]]);
    const found = new Map(rows.map((r) => [r.fpr, storedCert(r)]));
    return wanted.map((f) => found.get(f)).filter((s): s is StoredCert => s !== undefined);
  }

  async byKeyId(id: string): Promise<StoredCert[]> {
    const { keyId, fpr } = keyIdRanges(id);
    const rows = await this.database.query<CertRow>(
      'cannot look up key ID',
      `SELECT ${COLUMNS} FROM certs WHERE id IN (
         SELECT cert_id FROM cert_keys WHERE rkeyid >= $1 AND rkeyid < $2
         UNION SELECT cert_id FROM cert_keys WHERE rfpr >= $3 AND rfpr < $4
       ) ORDER BY fpr`,
      [...keyId, ...fpr],
    );
    return rows.map(storedCert);
  }

  async primariesByKeyId(keyIds: readonly string[]): Promise<Array<{ keyId: KeyId; fpr: Fingerprint }>> {
    const wanted = [...new Set(keyIds.map((k) => k.toUpperCase()).filter((k) => /^[0-9A-F]{16}$/.test(k)))].map(reverse);
    if (wanted.length === 0) return [];
    const rows = await this.database.query<{ rkeyid: string; rfpr: string; fpr: string }>(
      'cannot look up key IDs',
      'SELECT k.rkeyid AS rkeyid, k.rfpr AS rfpr, c.fpr AS fpr FROM cert_keys k JOIN certs c ON c.id = k.cert_id WHERE k.rkeyid = ANY($1::text[])',
      [wanted],
    );
    // The primary key's row: its reversed fingerprint is the certificate's.
    return sortKeyIdPairs(rows.filter((r) => r.rfpr === reverse(r.fpr)).map((r) => ({ keyId: reverse(r.rkeyid) as KeyId, fpr: asFingerprint(r.fpr) })));
  }

  async byExactUserId(text: string): Promise<StoredCert[]> {
    const rows = await this.database.query<CertRow>(
      'cannot look up user ID',
      `SELECT ${COLUMNS} FROM certs WHERE id IN (SELECT cert_id FROM cert_userids WHERE uid = $1) ORDER BY fpr`,
      [Buffer.from(text, 'utf8')],
    );
    return rows.map(storedCert);
  }

  async byFingerprint(fpr: string): Promise<StoredCert[]> {
    const rows = await this.database.query<CertRow>(
      'cannot look up fingerprint',
      `SELECT ${COLUMNS} FROM certs WHERE id IN (SELECT cert_id FROM cert_keys WHERE rfpr = $1) ORDER BY fpr`,
      [reversedFingerprint(fpr)],
    );
    return rows.map(storedCert);
  }

  async byAddress(address: string, limit: number): Promise<StoredCert[]> {
    if (limit <= 0) return [];
    const rows = await this.database.query<CertRow>(
      'cannot look up address',
      `SELECT ${COLUMNS} FROM certs WHERE id IN (SELECT cert_id FROM cert_addresses WHERE address = $1) ORDER BY fpr LIMIT $2`,
      [foldAddress(address), limit],
    );
    return rows.map(storedCert);
  }

  async *all(): AsyncIterable<StoredCert> {
    let after = '';
    for (;;) {
      const rows = await this.database.query<CertRow>('cannot list certificates', `SELECT ${COLUMNS} FROM certs WHERE fpr > $1 ORDER BY fpr LIMIT $2`, [after, PAGE]);
      for (const row of rows) yield storedCert(row);
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1].fpr;
    }
  }

  async delete(fpr: string, now?: number): Promise<boolean> {
    return this.database.write(`cannot delete certificate ${fpr}`, async (c) => {
      const row = await this.row(c, asFingerprint(fpr));
      if (!row) return false;
      await unindex(c, row.id);
      await c.query('DELETE FROM certs WHERE id = $1', [row.id]);
      await appendChange(c, row.fpr, null, row.digest, now ?? Number(row.updated));
      return true;
    });
  }

  async count(): Promise<number> {
    const rows = await this.database.query<{ n: string }>('cannot count certificates', 'SELECT count(*) AS n FROM certs');
    return Number(rows[0].n);
  }
}

export class PostgresDigestIndex implements DigestIndex {
  constructor(readonly database: PostgresDatabase) {}

  async byDigest(digests: readonly Buffer[]): Promise<StoredCert[]> {
    if (digests.length === 0) return [];
    const rows = await this.database.query<CertRow>('cannot look up digests', `SELECT ${COLUMNS} FROM certs WHERE digest = ANY($1::bytea[]) ORDER BY fpr`, [[...digests]]);
    const byDigest = new Map<string, StoredCert[]>();
    for (const r of rows) {
      const k = r.digest.toString('hex');
      const list = byDigest.get(k) ?? [];
      list.push(storedCert(r));
      byDigest.set(k, list);
    }
    return digests.flatMap((d) => byDigest.get(d.toString('hex')) ?? []);
  }

  async *digests(): AsyncIterable<Buffer> {
    let after: Buffer = Buffer.alloc(0);
    for (;;) {
      const rows = await this.database.query<{ digest: Buffer }>('cannot list digests', 'SELECT DISTINCT digest FROM certs WHERE digest > $1 ORDER BY digest LIMIT $2', [after, PAGE * 16]);
      for (const row of rows) yield row.digest;
      if (rows.length < PAGE * 16) return;
      after = rows[rows.length - 1].digest;
    }
  }
}
