/**
 * The server's trust store: one SQLite file ($SYSDATADIR/authentication/store.sqlite)
 * holding certificates, the verification cache (src/store/sqlite.ts) and, in tables of
 * its own (`auth_*`), what monkeysphere-authentication adds:
 *
 * - `auth_state`: the trust core's fingerprint, a generation number that triggers bump
 *   on every change to the certificates (whoever makes it), and which generation the
 *   precomputed bindings were computed for, from when and until when they hold;
 * - `auth_issuers`: which certificates each key ID has certified (and whether with a
 *   trust signature), kept up to date from `auth_dirty`, which triggers fill;
 * - `auth_bindings`: per (user ID, certificate) the validity letter and the SSH keys to
 *   grant, so answering sshd is a lookup.
 *
 * Not here: how validity is computed (compute.ts), files outside the store.
 */
import { EnvironmentError } from '../errors.js';
import type Database from 'better-sqlite3';
import { type Cert, readCerts } from '../openpgp/cert.js';
import { keyIdOf } from '../openpgp/fingerprint.js';
import { SigType } from '../openpgp/signature.js';
import { codeDigest, EVALUATION_CODE } from '../util/code-digest.js';
import { SqliteCertStore, SqliteDatabase, SqliteVerificationCache } from '../store/sqlite.js';
import type { PutResult } from '../store/types.js';

/**
 * The code that decides bindings: evaluation, trust, and how keys are granted. Bindings
 * computed by other code (before an upgrade) are not fresh, so an upgrade that fixes a
 * rule takes effect at once, not when the certificates next change.
 */
function bindingsCode(): string {
  return codeDigest([...EVALUATION_CODE, 'auth', 'ssh']).toString('hex');
}

/** Bumped when the auth_* schema changes; kept in the store's meta table. */
const AUTH_SCHEMA = '1';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS auth_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    computed_generation INTEGER NOT NULL DEFAULT -1,
    valid_from INTEGER NOT NULL DEFAULT 0,
    valid_until INTEGER,
    core_fpr TEXT
  );
  INSERT OR IGNORE INTO auth_state (id, generation) VALUES (1, 0);
  CREATE TABLE IF NOT EXISTS auth_dirty (cert_id INTEGER PRIMARY KEY);
  CREATE TABLE IF NOT EXISTS auth_issuers (
    issuer TEXT NOT NULL,
    cert_id INTEGER NOT NULL,
    tsig INTEGER NOT NULL,
    PRIMARY KEY (issuer, cert_id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS auth_issuers_cert ON auth_issuers(cert_id);
  CREATE TABLE IF NOT EXISTS auth_bindings (
    uid BLOB NOT NULL,
    fpr TEXT NOT NULL,
    validity TEXT NOT NULL,
    keys TEXT NOT NULL,
    ord INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS auth_bindings_uid ON auth_bindings(uid);
  CREATE TRIGGER IF NOT EXISTS auth_certs_insert AFTER INSERT ON certs BEGIN
    INSERT OR IGNORE INTO auth_dirty (cert_id) VALUES (NEW.id);
    UPDATE auth_state SET generation = generation + 1;
  END;
  CREATE TRIGGER IF NOT EXISTS auth_certs_update AFTER UPDATE ON certs BEGIN
    INSERT OR IGNORE INTO auth_dirty (cert_id) VALUES (NEW.id);
    UPDATE auth_state SET generation = generation + 1;
  END;
  CREATE TRIGGER IF NOT EXISTS auth_certs_delete AFTER DELETE ON certs BEGIN
    DELETE FROM auth_issuers WHERE cert_id = OLD.id;
    DELETE FROM auth_dirty WHERE cert_id = OLD.id;
    UPDATE auth_state SET generation = generation + 1;
  END;
`;

export interface AuthState {
  generation: number;
  computedGeneration: number;
  /** Unix seconds: the reference time the bindings were computed at. */
  validFrom: number;
  /** Unix seconds: the first time something in the computation expires or starts; null for never. */
  validUntil: number | null;
  coreFpr: string | null;
  /** Digest of the code that computed the bindings (BINDINGS_CODE), or null before any. */
  computedBy: string | null;
}

/** A precomputed binding: how valid `uid` is on certificate `fpr`, and the SSH keys (`type base64`) it grants. */
export interface BindingRow {
  uid: string;
  fpr: string;
  validity: string;
  keys: string[];
}

/** A certificate some key ID has certified. */
export interface CertifiedRow {
  id: number;
  fpr: string;
  /** Whether one of those certifications is a trust signature (level > 0). */
  tsig: boolean;
}

/** The 16-hex-digit key ID of a fingerprint: one definition, in openpgp/fingerprint. */
export { keyIdOf };

export interface OpenOptions {
  /** Open without writing (the schema must exist); what an unprivileged AuthorizedKeysCommand does. */
  readonly?: boolean;
}

export class AuthStore {
  readonly certs: SqliteCertStore;
  readonly cache: SqliteVerificationCache;
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(
    readonly database: SqliteDatabase,
    readonly readonly: boolean,
  ) {
    this.certs = new SqliteCertStore(database);
    this.cache = new SqliteVerificationCache(database);
  }

  /**
   * Opens the store at `path`, creating it and the auth_* tables unless read-only.
   * @throws EnvironmentError (MS_STORE_IO, MS_STORE_SCHEMA, MS_AUTH_STORE_UNINITIALIZED) or TemporaryError (MS_STORE_BUSY)
   */
  static open(path: string, opts: OpenOptions = {}): AuthStore {
    const database = SqliteDatabase.open(path, { readonly: opts.readonly });
    try {
      const has = database.db.prepare("SELECT value FROM meta WHERE key = 'auth.schema'").get() as { value: string } | undefined;
      if (!has || has.value !== AUTH_SCHEMA) {
        if (opts.readonly) {
          throw new EnvironmentError('MS_AUTH_STORE_UNINITIALIZED', `the store ${JSON.stringify(path)} has not been set up`, {
            hints: ['run: monkeysphere-authentication setup'],
          });
        }
        database.write('cannot set up the authentication tables', () => {
          database.db.exec(SCHEMA);
          // Index what was stored before these tables existed.
          database.db.exec('INSERT OR IGNORE INTO auth_dirty (cert_id) SELECT id FROM certs');
          database.db.prepare("INSERT INTO meta (key, value) VALUES ('auth.schema', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(AUTH_SCHEMA);
        });
      }
      return new AuthStore(database, opts.readonly ?? false);
    } catch (err) {
      database.close();
      throw err;
    }
  }

  close(): void {
    this.database.close();
  }

  /** A prepared statement, prepared once per connection. */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.database.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  state(): AuthState {
    const r = this.database.read('cannot read the store state', () =>
      this.stmt('SELECT generation, computed_generation, valid_from, valid_until, core_fpr FROM auth_state WHERE id = 1').get(),
    ) as { generation: number; computed_generation: number; valid_from: number; valid_until: number | null; core_fpr: string | null };
    const code = this.database.read('cannot read the store state', () => this.stmt("SELECT value FROM meta WHERE key = 'auth.bindings-code'").get()) as { value: string } | undefined;
    return { generation: r.generation, computedGeneration: r.computed_generation, validFrom: r.valid_from, validUntil: r.valid_until, coreFpr: r.core_fpr, computedBy: code?.value ?? null };
  }

  setCore(fpr: string): void {
    this.database.write('cannot record the trust core', () => {
      this.stmt('UPDATE auth_state SET core_fpr = ?, generation = generation + 1 WHERE id = 1').run(fpr);
    });
  }

  /** Whether the precomputed bindings answer for reference time `now` (Unix seconds). */
  isFresh(now: number, state = this.state()): boolean {
    return (
      state.computedGeneration === state.generation &&
      state.computedBy === bindingsCode() &&
      now >= state.validFrom &&
      (state.validUntil === null || now < state.validUntil)
    );
  }

  /** Certificates changed since they were last indexed. */
  dirtyCount(): number {
    return this.database.read('cannot read the store', () => (this.stmt('SELECT count(*) AS n FROM auth_dirty').get() as { n: number }).n);
  }

  /** Re-indexes the certifications of every changed certificate (no-op when read-only). */
  syncIssuerIndex(): void {
    if (this.readonly) return;
    const db = this.database.db;
    const dirty = this.stmt('SELECT d.cert_id AS id, c.fpr AS fpr FROM auth_dirty d JOIN certs c ON c.id = d.cert_id LIMIT 512');
    const del = this.stmt('DELETE FROM auth_issuers WHERE cert_id = ?');
    const ins = this.stmt('INSERT INTO auth_issuers (issuer, cert_id, tsig) VALUES (?, ?, ?) ON CONFLICT (issuer, cert_id) DO UPDATE SET tsig = max(tsig, excluded.tsig)');
    const clean = this.stmt('DELETE FROM auth_dirty WHERE cert_id = ?');
    for (;;) {
      const rows = this.database.read('cannot read the store', () => dirty.all()) as Array<{ id: number; fpr: string }>;
      if (rows.length === 0) {
        // Rows whose certificate is gone.
        this.database.write('cannot index the store', () => db.exec('DELETE FROM auth_dirty WHERE cert_id NOT IN (SELECT id FROM certs)'));
        return;
      }
      const parsed = rows.map((r) => ({ id: r.id, issuers: this.issuersOfStored(r.id) }));
      this.database.write('cannot index the store', () => {
        for (const p of parsed) {
          del.run(p.id);
          for (const [issuer, tsig] of p.issuers) ins.run(issuer, p.id, tsig ? 1 : 0);
          clean.run(p.id);
        }
      });
    }
  }

  /** Key IDs that certified user IDs of the stored certificate (or revoked it as designated revokers), with whether any was a trust signature. */
  private issuersOfStored(id: number): Map<string, boolean> {
    const row = this.stmt('SELECT data FROM certs WHERE id = ?').get(id) as { data: Buffer } | undefined;
    const stored = row ? readCerts(row.data).certs[0] : undefined;
    return stored ? issuersOf(stored) : new Map();
  }

  /**
   * Stores certificates (merged with what is stored) and indexes them at once from the
   * merged result, so a later computation does not parse them again. A certificate
   * changed by someone else in between stays marked for re-indexing.
   */
  async putCerts(certs: Cert[], now: Date): Promise<PutResult[]> {
    const results = await this.certs.putMany(certs, now);
    if (this.readonly || results.length === 0) return results;
    const data = this.stmt('SELECT id, data FROM certs WHERE fpr = ?');
    this.database.write('cannot index the store', () => {
      for (const r of results) {
        const row = data.get(r.fpr) as { id: number; data: Buffer } | undefined;
        if (!row?.data.equals(Buffer.concat(r.cert.packets.map((p) => p.raw)))) continue;
        this.indexIssuers(row.id, r.cert);
      }
    });
    return results;
  }

  /**
   * Stores certificates from outside (src/auth/ingest.ts, the only caller): merged with
   * what is stored as putCerts does, then each merged result passed to `trim`, which may
   * only leave signatures out (never a key or user ID, so the store's own indexes stay
   * right). When it does, the trimmed bytes replace the stored ones. A certificate changed
   * by someone else meanwhile is left as merged and stays marked for re-indexing.
   */
  async putCertsTrimmed(certs: Cert[], now: Date, trim: (merged: Cert) => Promise<Cert | undefined>): Promise<PutResult[]> {
    const results = await this.certs.putMany(certs, now);
    if (this.readonly || results.length === 0) return results;
    const trimmed: Array<Cert | undefined> = [];
    for (const r of results) trimmed.push(await trim(r.cert));
    const data = this.stmt('SELECT id, data FROM certs WHERE fpr = ?');
    const update = this.stmt('UPDATE certs SET data = ?, updated = ? WHERE id = ?');
    const time = Math.floor(now.getTime() / 1000);
    return this.database.write('cannot store certificates', () =>
      results.map((r, i): PutResult => {
        const row = data.get(r.fpr) as { id: number; data: Buffer } | undefined;
        if (!row?.data.equals(Buffer.concat(r.cert.packets.map((p) => p.raw)))) return r;
        const t = trimmed[i];
        let result = r;
        if (t) {
          const bytes = Buffer.concat(t.packets.map((p) => p.raw));
          if (!bytes.equals(row.data)) {
            update.run(bytes, time, row.id);
            result = { fpr: r.fpr, status: r.status === 'inserted' ? 'inserted' : 'updated', cert: t };
          }
        }
        this.indexIssuers(row.id, result.cert);
        return result;
      }),
    );
  }

  /** Replaces the issuer index rows of a stored certificate (inside a write transaction). */
  private indexIssuers(id: number, cert: Cert): void {
    const del = this.stmt('DELETE FROM auth_issuers WHERE cert_id = ?');
    const ins = this.stmt('INSERT INTO auth_issuers (issuer, cert_id, tsig) VALUES (?, ?, ?) ON CONFLICT (issuer, cert_id) DO UPDATE SET tsig = max(tsig, excluded.tsig)');
    const clean = this.stmt('DELETE FROM auth_dirty WHERE cert_id = ?');
    del.run(id);
    for (const [issuer, tsig] of issuersOf(cert)) ins.run(issuer, id, tsig ? 1 : 0);
    clean.run(id);
  }

  /** Certificates certified by any of these key IDs (16 hex digits). */
  certifiedBy(keyIds: string[]): CertifiedRow[] {
    if (keyIds.length === 0) return [];
    const stmt = this.stmt('SELECT c.id AS id, c.fpr AS fpr, max(i.tsig) AS tsig FROM auth_issuers i JOIN certs c ON c.id = i.cert_id WHERE i.issuer = ? GROUP BY c.id');
    const out = new Map<number, CertifiedRow>();
    this.database.read('cannot read the store', () => {
      for (const k of keyIds) {
        for (const r of stmt.all(k.toUpperCase()) as Array<{ id: number; fpr: string; tsig: number }>) {
          const prev = out.get(r.id);
          out.set(r.id, { id: r.id, fpr: r.fpr, tsig: (prev?.tsig ?? false) || r.tsig === 1 });
        }
      }
    });
    return [...out.values()];
  }

  /** The stored certificates with these fingerprints (absent ones are left out), in the order given. */
  loadCerts(fprs: string[]): Cert[] {
    const byFpr = new Map<string, Cert>();
    const CHUNK = 500;
    this.database.read('cannot read certificates', () => {
      for (let i = 0; i < fprs.length; i += CHUNK) {
        const chunk = fprs.slice(i, i + CHUNK);
        const rows = this.database.db.prepare(`SELECT fpr, data FROM certs WHERE fpr IN (${chunk.map(() => '?').join(',')})`).all(...chunk) as Array<{ fpr: string; data: Buffer }>;
        for (const r of rows) {
          const c = readCerts(r.data).certs[0];
          if (c) byFpr.set(r.fpr, c);
        }
      }
    });
    return fprs.map((f) => byFpr.get(f)).filter((c): c is Cert => c !== undefined);
  }

  /** Store row id of a certificate (its insertion order), or undefined. */
  certId(fpr: string): number | undefined {
    const r = this.stmt('SELECT id FROM certs WHERE fpr = ?').get(fpr.toUpperCase()) as { id: number } | undefined;
    return r?.id;
  }

  /** Precomputed bindings of a user ID (exact, case-sensitive), in certificate order. */
  bindingsFor(uid: string): BindingRow[] {
    const rows = this.database.read('cannot read the precomputed bindings', () =>
      this.stmt('SELECT fpr, validity, keys FROM auth_bindings WHERE uid = ? ORDER BY ord').all(Buffer.from(uid, 'utf8')),
    ) as Array<{ fpr: string; validity: string; keys: string }>;
    return rows.map((r) => ({ uid, fpr: r.fpr, validity: r.validity, keys: r.keys === '' ? [] : r.keys.split('\n') }));
  }

  /**
   * Replaces every precomputed binding, unless the certificates changed since `generation`
   * was read (then the result is stale and dropped; returns false).
   */
  saveBindings(rows: BindingRow[], generation: number, validFrom: number, validUntil: number | null): boolean {
    const db = this.database.db;
    return this.database.write('cannot save the precomputed bindings', () => {
      const g = (this.stmt('SELECT generation FROM auth_state WHERE id = 1').get() as { generation: number }).generation;
      if (g !== generation) return false;
      db.exec('DELETE FROM auth_bindings');
      const ins = this.stmt('INSERT INTO auth_bindings (uid, fpr, validity, keys, ord) VALUES (?, ?, ?, ?, ?)');
      rows.forEach((r, i) => {
        ins.run(Buffer.from(r.uid, 'utf8'), r.fpr, r.validity, r.keys.join('\n'), i);
      });
      this.stmt('UPDATE auth_state SET computed_generation = ?, valid_from = ?, valid_until = ? WHERE id = 1').run(generation, validFrom, validUntil);
      this.stmt("INSERT INTO meta (key, value) VALUES ('auth.bindings-code', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(bindingsCode());
      return true;
    });
  }
}

/** Key IDs that certified (or revoked certifications of) the certificate's user IDs, each with whether any was a trust signature. */
export function issuersOf(cert: Cert): Map<string, boolean> {
  const out = new Map<string, boolean>();
  const self = keyIdOf(cert.primary.fpr);
  for (const u of cert.users) {
    for (const s of u.signatures) {
      if (!s.sig) continue;
      const tsig = s.sig.type >= SigType.GenericCert && s.sig.type <= SigType.PositiveCert && (s.sig.trust?.level ?? 0) > 0;
      for (const issuer of issuerIdsOf(s.sig.issuerFingerprints, s.sig.issuerKeyIds)) {
        if (issuer === self) continue;
        out.set(issuer, (out.get(issuer) ?? false) || tsig);
      }
    }
  }
  return out;
}

/** Issuer key IDs of a signature, from its fingerprints and key IDs. */
export function issuerIdsOf(fingerprints: string[], keyIds: string[]): string[] {
  const out = new Set<string>();
  for (const f of fingerprints) out.add(keyIdOf(f));
  for (const k of keyIds) out.add(k.toUpperCase());
  return [...out];
}

