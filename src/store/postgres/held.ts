/** A keyserver's held-aside certifications on PostgreSQL (`HeldCertifications`). */
import { createHash } from 'node:crypto';
import { asFingerprint, type KeyId } from '../../openpgp/fingerprint.js';
import type { HeldCertification, HeldCertifications } from '../types.js';
import type { PostgresDatabase } from './database.js';

interface HeldRow {
  target: string;
  issuer: string;
  component: Buffer;
  sig: Buffer;
  created: string | number;
  held: string | number;
}

const COLUMNS = 'target, issuer, component, sig, created, held';
const ORDER = 'ORDER BY created DESC, sig ASC';
const sigHash = (sig: Buffer) => createHash('sha256').update(sig).digest();
const toHeld = (r: HeldRow): HeldCertification => ({
  target: asFingerprint(r.target),
  issuer: r.issuer as KeyId,
  component: r.component,
  sig: r.sig,
  created: Number(r.created),
  held: Number(r.held),
});

export class PostgresHeldCertifications implements HeldCertifications {
  constructor(readonly database: PostgresDatabase) {}

  async hold(items: readonly HeldCertification[], maxPerTarget: number): Promise<number> {
    if (items.length === 0) return 0;
    const targets = items.map((i) => asFingerprint(i.target));
    const hashes = items.map((i) => sigHash(i.sig));
    return this.database.write('cannot hold certifications', async (c) => {
      await c.query(
        `INSERT INTO held_certifications (target, sig_hash, issuer, component, sig, created, held)
         SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::bytea[], $5::bytea[], $6::bigint[], $7::bigint[])
         ON CONFLICT DO NOTHING`,
        [targets, hashes, items.map((i) => i.issuer.toUpperCase()), items.map((i) => i.component), items.map((i) => i.sig), items.map((i) => i.created), items.map((i) => i.held)],
      );
      for (const t of new Set(targets)) {
        await c.query(
          `DELETE FROM held_certifications WHERE target = $1 AND sig_hash IN (
             SELECT sig_hash FROM held_certifications WHERE target = $1 ${ORDER} OFFSET $2)`,
          [t, Math.max(0, maxPerTarget)],
        );
      }
      const r = await c.query<{ t: string; h: Buffer }>(
        'SELECT target AS t, sig_hash AS h FROM held_certifications WHERE (target, sig_hash) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))',
        [targets, hashes],
      );
      const present = new Set(r.rows.map((x) => `${x.t}:${x.h.toString('hex')}`));
      return targets.filter((t, i) => present.has(`${t}:${hashes[i].toString('hex')}`)).length;
    });
  }

  async byIssuer(keyIds: readonly string[]): Promise<HeldCertification[]> {
    const ids = [...new Set(keyIds.map((k) => k.toUpperCase()).filter((k) => /^[0-9A-F]{16}$/.test(k)))];
    if (ids.length === 0) return [];
    const rows = await this.database.query<HeldRow>(
      'cannot read held certifications',
      `SELECT ${COLUMNS} FROM held_certifications WHERE issuer = ANY($1::text[]) ORDER BY target, created DESC, sig ASC`,
      [ids],
    );
    return rows.map(toHeld);
  }

  async of(target: string): Promise<HeldCertification[]> {
    const rows = await this.database.query<HeldRow>('cannot read held certifications', `SELECT ${COLUMNS} FROM held_certifications WHERE target = $1 ${ORDER}`, [asFingerprint(target)]);
    return rows.map(toHeld);
  }

  async count(target: string): Promise<number> {
    const rows = await this.database.query<{ n: string }>('cannot count held certifications', 'SELECT count(*) AS n FROM held_certifications WHERE target = $1', [asFingerprint(target)]);
    return Number(rows[0].n);
  }

  async remove(items: ReadonlyArray<{ target: string; sig: Buffer }>): Promise<number> {
    if (items.length === 0) return 0;
    return this.database.write('cannot remove held certifications', async (c) => {
      const r = await c.query('DELETE FROM held_certifications WHERE (target, sig_hash) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))', [
        items.map((i) => asFingerprint(i.target)),
        items.map((i) => sigHash(i.sig)),
      ]);
      return r.rowCount ?? 0;
    });
  }

  async removeTarget(target: string): Promise<number> {
    return this.database.write('cannot remove held certifications', async (c) => (await c.query('DELETE FROM held_certifications WHERE target = $1', [asFingerprint(target)])).rowCount ?? 0);
  }
}
