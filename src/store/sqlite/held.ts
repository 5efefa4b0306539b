/** A keyserver's held-aside certifications on a `SqliteDatabase` (`HeldCertifications`). */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { asFingerprint, type KeyId } from '../../openpgp/fingerprint.js';
import type { HeldCertification, HeldCertifications } from '../types.js';
import type { SqliteDatabase } from './database.js';

interface HeldRow {
  target: string;
  issuer: string;
  component: Buffer;
  sig: Buffer;
  created: number;
  held: number;
}

const COLUMNS = 'target, issuer, component, sig, created, held';
const sigHash = (sig: Buffer) => createHash('sha256').update(sig).digest();
const toHeld = (r: HeldRow): HeldCertification => ({
  target: asFingerprint(r.target),
  issuer: r.issuer as KeyId,
  component: r.component,
  sig: r.sig,
  created: r.created,
  held: r.held,
});
const isKeyId = (id: string) => /^[0-9A-F]{16}$/.test(id);

export class SqliteHeldCertifications implements HeldCertifications {
  private readonly s;

  constructor(readonly database: SqliteDatabase) {
    const db: Database.Database = database.db;
    this.s = {
      insert: db.prepare<[string, Buffer, string, Buffer, Buffer, number, number]>(
        'INSERT OR IGNORE INTO held_certifications (target, sig_hash, issuer, component, sig, created, held) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      trim: db.prepare<[string, string, number]>(
        `DELETE FROM held_certifications WHERE target = ? AND sig_hash IN (
           SELECT sig_hash FROM held_certifications WHERE target = ? ORDER BY created DESC, sig ASC LIMIT -1 OFFSET ?)`,
      ),
      has: db.prepare<[string, Buffer], { x: number }>('SELECT 1 AS x FROM held_certifications WHERE target = ? AND sig_hash = ?'),
      byIssuer: db.prepare<[string], HeldRow>(`SELECT ${COLUMNS} FROM held_certifications WHERE issuer = ?`),
      of: db.prepare<[string], HeldRow>(`SELECT ${COLUMNS} FROM held_certifications WHERE target = ? ORDER BY created DESC, sig ASC`),
      count: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM held_certifications WHERE target = ?'),
      remove: db.prepare<[string, Buffer]>('DELETE FROM held_certifications WHERE target = ? AND sig_hash = ?'),
      removeTarget: db.prepare<[string]>('DELETE FROM held_certifications WHERE target = ?'),
    };
  }

  async hold(items: readonly HeldCertification[], maxPerTarget: number): Promise<number> {
    if (items.length === 0) return 0;
    const rows = items.map((i) => ({ ...i, target: asFingerprint(i.target), issuer: i.issuer.toUpperCase(), hash: sigHash(i.sig) }));
    return this.database.write('cannot hold certifications', () => {
      const targets = new Set<string>();
      for (const r of rows) {
        this.s.insert.run(r.target, r.hash, r.issuer, r.component, r.sig, r.created, r.held);
        targets.add(r.target);
      }
      // Only a target over the cap is trimmed; when none was, every one given is held.
      let trimmed = false;
      for (const t of targets) {
        if (this.s.count.get(t)!.n <= maxPerTarget) continue;
        this.s.trim.run(t, t, Math.max(0, maxPerTarget));
        trimmed = true;
      }
      if (!trimmed) return rows.length;
      let n = 0;
      for (const r of rows) if (this.s.has.get(r.target, r.hash)) n++;
      return n;
    });
  }

  async byIssuer(keyIds: readonly string[]): Promise<HeldCertification[]> {
    const ids = [...new Set(keyIds.map((k) => k.toUpperCase()).filter(isKeyId))];
    const out = this.database.read('cannot read held certifications', () => ids.flatMap((id) => this.s.byIssuer.all(id)));
    out.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : b.created - a.created || Buffer.compare(a.sig, b.sig)));
    return out.map(toHeld);
  }

  async of(target: string): Promise<HeldCertification[]> {
    return this.database.read('cannot read held certifications', () => this.s.of.all(asFingerprint(target)).map(toHeld));
  }

  async count(target: string): Promise<number> {
    return this.database.read('cannot count held certifications', () => this.s.count.get(asFingerprint(target))!.n);
  }

  async remove(items: ReadonlyArray<{ target: string; sig: Buffer }>): Promise<number> {
    if (items.length === 0) return 0;
    const rows = items.map((i) => [asFingerprint(i.target), sigHash(i.sig)] as const);
    return this.database.write('cannot remove held certifications', () => {
      let n = 0;
      for (const [t, h] of rows) n += this.s.remove.run(t, h).changes;
      return n;
    });
  }

  async removeTarget(target: string): Promise<number> {
    return this.database.write('cannot remove held certifications', () => this.s.removeTarget.run(asFingerprint(target)).changes);
  }
}
