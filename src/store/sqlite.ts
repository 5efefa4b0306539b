/**
 * The SQLite store (better-sqlite3): one database file holding certificates (`CertStore`), small
 * settings (`MetaStore`) and the signature verification cache (`VerificationCache`). WAL journal,
 * synchronous=NORMAL, a busy timeout, schema migrations tracked in `PRAGMA user_version`, and every
 * write in one transaction, so a crash leaves the old or the new state and never a corrupt file.
 * Not here: the PostgreSQL keyserver store (it implements the same interfaces in another module).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { EnvironmentError, InputError, MsError, TemporaryError } from '../errors.js';
import { type Cert, publicPackets, readCerts } from '../openpgp/cert.js';
import { canonicalCert, isCanonical, mergeCerts } from '../openpgp/merge.js';
import { Tag } from '../openpgp/packets.js';
import type { VerificationCache } from '../verify/cache.js';
import type { TimeWindow } from '../cert/time-window.js';
import type { CertStore, MetaStore, PutResult, SnapshotStore, StoredCert } from './types.js';

/** Each entry takes the schema from version i to i + 1; never edit a released one, append. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE certs (
    id INTEGER PRIMARY KEY,
    fpr TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
  );
  -- Primary key and subkeys. The fingerprint is stored reversed (as hockeypuck does) so that a
  -- fingerprint-suffix lookup (short and long v4 key IDs) is an index range scan.
  CREATE TABLE cert_keys (
    rfpr TEXT NOT NULL,
    keyid TEXT NOT NULL,
    cert_id INTEGER NOT NULL REFERENCES certs(id) ON DELETE CASCADE,
    PRIMARY KEY (rfpr, cert_id)
  ) WITHOUT ROWID;
  CREATE INDEX cert_keys_keyid ON cert_keys(keyid);
  CREATE INDEX cert_keys_cert ON cert_keys(cert_id);
  CREATE TABLE cert_userids (
    uid BLOB NOT NULL,
    cert_id INTEGER NOT NULL REFERENCES certs(id) ON DELETE CASCADE,
    PRIMARY KEY (uid, cert_id)
  ) WITHOUT ROWID;
  CREATE INDEX cert_userids_cert ON cert_userids(cert_id);
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  -- key: sha256(issuer fingerprint || signed digest || signature packet body), see src/verify/cache.ts.
  CREATE TABLE verification_cache (
    key BLOB PRIMARY KEY,
    good INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface SqliteOptions {
  /** How long a write waits for another connection's lock before failing with MS_STORE_BUSY (default 5000 ms). */
  busyTimeoutMs?: number;
  /** Open without writing: no file creation, no migrations (the schema must be current). */
  readonly?: boolean;
  /**
   * Journal of a writable connection (default 'wal'). A WAL database can be opened read-only only by
   * someone who can create its -wal and -shm files (write access to the directory) or while a writer
   * keeps them open; a reader that cannot (sshd's AuthorizedKeysCommandUser reading a root-owned
   * store) fails with MS_STORE_IO. Choose 'rollback' for such files: journal_mode=DELETE with
   * synchronous=FULL, which read-only readers need nothing more for. The mode is stored in the file.
   */
  journal?: 'wal' | 'rollback';
}

/** Maps SQLite failures to our error classes: busy is temporary, disk and file trouble is environmental. */
function storeError(err: unknown, what: string): unknown {
  if (err instanceof MsError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return err;
  const message = `${what}: ${(err as Error).message}`;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new TemporaryError('MS_STORE_BUSY', message, { cause: err, hints: ['another process holds the database lock; try again'] });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new EnvironmentError('MS_STORE_CORRUPT', message, { cause: err });
  }
  if (/^SQLITE_(CANTOPEN|READONLY|IOERR|FULL|PERM|AUTH)/.test(code)) {
    return new EnvironmentError('MS_STORE_IO', message, { cause: err });
  }
  return err;
}

function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw storeError(err, what);
  }
}

/**
 * One open database file. Create one per process (better-sqlite3 is synchronous; a connection is
 * not shared between threads), then build the stores on it.
 */
export class SqliteDatabase implements MetaStore {
  readonly db: Database.Database;
  private readonly stmts: {
    getMeta: Database.Statement<[string], { value: string }>;
    setMeta: Database.Statement<[string, string]>;
    deleteMeta: Database.Statement<[string]>;
  };

  private constructor(
    readonly path: string,
    db: Database.Database,
  ) {
    this.db = db;
    this.stmts = {
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      deleteMeta: db.prepare('DELETE FROM meta WHERE key = ?'),
    };
  }

  /**
   * Opens (and creates, unless read-only) the database at `path` and brings its schema up to date.
   * Several processes may open the same file at once; migrations run under the write lock.
   * @throws EnvironmentError (MS_STORE_IO, MS_STORE_CORRUPT, MS_STORE_SCHEMA) or TemporaryError (MS_STORE_BUSY)
   */
  static open(path: string, opts: SqliteOptions = {}): SqliteDatabase {
    return guard(`cannot open database ${JSON.stringify(path)}`, () => {
      if (path !== ':memory:' && !existsSync(dirname(path))) {
        throw new EnvironmentError('MS_STORE_IO', `cannot open database ${JSON.stringify(path)}: its directory does not exist`, { data: { path } });
      }
      const db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
      try {
        db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
        if (!opts.readonly && (opts.journal ?? 'wal') === 'wal') {
          // WAL: readers never block the writer; NORMAL: a power cut may lose the last commits, never consistency.
          db.pragma('journal_mode = WAL');
          db.pragma('synchronous = NORMAL');
        } else if (!opts.readonly) {
          // A rollback journal needs FULL for the same guarantee.
          db.pragma('journal_mode = DELETE');
          db.pragma('synchronous = FULL');
        }
        db.pragma('foreign_keys = ON');
        migrate(db, path, opts.readonly ?? false);
        return new SqliteDatabase(path, db);
      } catch (err) {
        db.close();
        throw err;
      }
    });
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE), so a concurrent writer cannot slip between its read and its write. */
  write<T>(what: string, fn: () => T): T {
    return guard(what, () => this.db.transaction(fn).immediate());
  }

  read<T>(what: string, fn: () => T): T {
    return guard(what, fn);
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.read('cannot read meta', () => this.stmts.getMeta.get(key)?.value);
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.write('cannot write meta', () => this.stmts.setMeta.run(key, value));
  }

  async deleteMeta(key: string): Promise<boolean> {
    return this.write('cannot write meta', () => this.stmts.deleteMeta.run(key).changes > 0);
  }

  /** SQLite's own consistency check; `['ok']` when the file is sound. */
  integrityCheck(): string[] {
    return this.read('cannot check database', () => this.db.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>).map(
      (r) => r.integrity_check,
    );
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Database.Database, path: string, readonly: boolean): void {
  const current = () => db.pragma('user_version', { simple: true }) as number;
  const check = (v: number) => {
    if (v > SCHEMA_VERSION) {
      throw new EnvironmentError('MS_STORE_SCHEMA', `database ${JSON.stringify(path)} has schema version ${v}, newer than this program's ${SCHEMA_VERSION}`, {
        hints: ['upgrade monkeysphere, or use another database file'],
        data: { path, version: v, supported: SCHEMA_VERSION },
      });
    }
  };
  check(current());
  if (current() === SCHEMA_VERSION) return;
  if (readonly) {
    throw new EnvironmentError('MS_STORE_SCHEMA', `database ${JSON.stringify(path)} has schema version ${current()}; it must be upgraded to ${SCHEMA_VERSION} first`, {
      hints: ['open it once without read-only access'],
      data: { path, version: current(), supported: SCHEMA_VERSION },
    });
  }
  db.transaction(() => {
    // Another connection may have migrated while we waited for the lock.
    const v = current();
    check(v);
    for (let i = v; i < SCHEMA_VERSION; i++) db.exec(MIGRATIONS[i]);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

// ---------------------------------------------------------------------------------------------
// Certificates

interface CertRow {
  id: number;
  fpr: string;
  data: Buffer;
  created: number;
  updated: number;
}

const HEX_ID = /^[0-9A-F]{8,64}$/;

function normalizeFpr(fpr: string): string {
  return fpr.toUpperCase();
}

function reverse(s: string): string {
  let out = '';
  for (let i = s.length - 1; i >= 0; i--) out += s[i];
  return out;
}

/** What is stored for a certificate: its public packets as they came, trust and marker packets left out. */
function storedBytes(cert: Cert): Buffer {
  return Buffer.concat(publicPackets(cert).map((p) => p.raw));
}

function packetKey(tag: number, body: Buffer): string {
  return `${tag}:${body.toString('base64')}`;
}

function parseStored(row: CertRow): StoredCert {
  const { certs } = readCerts(row.data);
  if (certs.length !== 1 || certs[0].primary.fpr !== row.fpr) {
    throw new EnvironmentError('MS_STORE_CORRUPT', `stored certificate ${row.fpr} does not parse back`, { data: { fingerprint: row.fpr } });
  }
  return { fpr: row.fpr, cert: certs[0], bytes: row.data, created: row.created, updated: row.updated };
}

function unixSeconds(now: Date): number {
  return Math.floor(now.getTime() / 1000);
}

const PAGE = 256;

/** `CertStore` on a `SqliteDatabase`. */
export class SqliteCertStore implements CertStore {
  private readonly s;

  constructor(readonly database: SqliteDatabase) {
    const db = database.db;
    this.s = {
      byFpr: db.prepare<[string], CertRow>('SELECT id, fpr, data, created, updated FROM certs WHERE fpr = ?'),
      insert: db.prepare<[string, Buffer, number, number]>('INSERT INTO certs (fpr, data, created, updated) VALUES (?, ?, ?, ?)'),
      update: db.prepare<[Buffer, number, number]>('UPDATE certs SET data = ?, updated = ? WHERE id = ?'),
      delete: db.prepare<[number]>('DELETE FROM certs WHERE id = ?'),
      deleteKeys: db.prepare<[number]>('DELETE FROM cert_keys WHERE cert_id = ?'),
      deleteUids: db.prepare<[number]>('DELETE FROM cert_userids WHERE cert_id = ?'),
      insertKey: db.prepare<[string, string, number]>('INSERT OR IGNORE INTO cert_keys (rfpr, keyid, cert_id) VALUES (?, ?, ?)'),
      insertUid: db.prepare<[Buffer, number]>('INSERT OR IGNORE INTO cert_userids (uid, cert_id) VALUES (?, ?)'),
      byKeyId: db.prepare<[string, string, string], CertRow>(
        `SELECT id, fpr, data, created, updated FROM certs WHERE id IN (
           SELECT cert_id FROM cert_keys WHERE keyid = ?
           UNION SELECT cert_id FROM cert_keys WHERE rfpr >= ? AND rfpr < ?
         ) ORDER BY fpr`,
      ),
      byUid: db.prepare<[Buffer], CertRow>(
        'SELECT id, fpr, data, created, updated FROM certs WHERE id IN (SELECT cert_id FROM cert_userids WHERE uid = ?) ORDER BY fpr',
      ),
      page: db.prepare<[string, number], CertRow>('SELECT id, fpr, data, created, updated FROM certs WHERE fpr > ? ORDER BY fpr LIMIT ?'),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM certs'),
    };
  }

  async put(cert: Cert, now: Date): Promise<PutResult> {
    return this.database.write(`cannot store certificate ${cert.primary.fpr}`, () => this.putOne(cert, now));
  }

  async putMany(certs: Iterable<Cert>, now: Date): Promise<PutResult[]> {
    return this.database.write('cannot store certificates', () => {
      const out: PutResult[] = [];
      for (const c of certs) out.push(this.putOne(c, now));
      return out;
    });
  }

  /** Inside a write transaction. */
  private putOne(cert: Cert, now: Date): PutResult {
    if (cert.secret) {
      throw new InputError('MS_STORE_SECRET', `refusing to store secret key ${cert.primary.fpr}`, {
        hints: ['store the public certificate (gpg --export), not the secret key'],
        data: { fingerprint: cert.primary.fpr },
      });
    }
    const fpr = cert.primary.fpr;
    const time = unixSeconds(now);
    const row = this.s.byFpr.get(fpr);
    if (!row) {
      // Stored canonical (one packet per user ID and subkey), so a signature merged in later
      // lands on the one copy every reader evaluates.
      const bytes = storedBytes(canonicalCert(cert));
      const id = Number(this.s.insert.run(fpr, bytes, time, time).lastInsertRowid);
      const stored = parseStored({ id, fpr, data: bytes, created: time, updated: time });
      this.index(id, stored.cert);
      return { fpr, status: 'inserted', cert: stored.cert };
    }
    const old = parseStored(row);
    // Unchanged when every incoming packet is already stored: keep the stored bytes as they are,
    // unless they were stored with duplicates (before canonical storage): the merge rewrites them.
    const have = new Set(publicPackets(old.cert).map((p) => packetKey(p.tag, p.body)));
    if (isCanonical(old.cert) && publicPackets(cert).every((p) => have.has(packetKey(p.tag, p.body)))) {
      return { fpr, status: 'unchanged', cert: old.cert };
    }
    const bytes = storedBytes(mergeCerts(old.cert, cert));
    if (bytes.equals(row.data)) return { fpr, status: 'unchanged', cert: old.cert };
    this.s.update.run(bytes, time, row.id);
    const stored = parseStored({ ...row, data: bytes, updated: time });
    this.s.deleteKeys.run(row.id);
    this.s.deleteUids.run(row.id);
    this.index(row.id, stored.cert);
    return { fpr, status: 'updated', cert: stored.cert };
  }

  private index(id: number, cert: Cert): void {
    for (const key of [cert.primary, ...cert.subkeys.map((s) => s.key)]) this.s.insertKey.run(reverse(key.fpr), key.keyId, id);
    for (const u of cert.users) if (u.packet.tag === Tag.UserId) this.s.insertUid.run(u.packet.body, id);
  }

  async get(fpr: string): Promise<StoredCert | undefined> {
    return this.database.read('cannot read certificate', () => {
      const row = this.s.byFpr.get(normalizeFpr(fpr));
      return row ? parseStored(row) : undefined;
    });
  }

  async byKeyId(id: string): Promise<StoredCert[]> {
    let hexId = id.toUpperCase();
    if (hexId.startsWith('0X')) hexId = hexId.slice(2);
    if (!HEX_ID.test(hexId)) {
      throw new InputError('MS_STORE_KEYID', `not a key ID or fingerprint: ${JSON.stringify(id)}`, {
        hints: ['give 8, 16, 40 or 64 hexadecimal digits'],
        data: { id },
      });
    }
    const prefix = reverse(hexId);
    // Upper bound of the range: hex digits sort below 'G'.
    return this.database.read('cannot look up key ID', () => this.s.byKeyId.all(hexId, prefix, `${prefix}G`).map(parseStored));
  }

  async byExactUserId(text: string): Promise<StoredCert[]> {
    return this.database.read('cannot look up user ID', () => this.s.byUid.all(Buffer.from(text, 'utf8')).map(parseStored));
  }

  async *all(): AsyncIterable<StoredCert> {
    let after = '';
    for (;;) {
      const rows = this.database.read('cannot list certificates', () => this.s.page.all(after, PAGE));
      for (const row of rows) yield parseStored(row);
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1].fpr;
    }
  }

  async delete(fpr: string): Promise<boolean> {
    return this.database.write(`cannot delete certificate ${fpr}`, () => {
      const row = this.s.byFpr.get(normalizeFpr(fpr));
      if (!row) return false;
      this.s.deleteKeys.run(row.id);
      this.s.deleteUids.run(row.id);
      this.s.delete.run(row.id);
      return true;
    });
  }

  async count(): Promise<number> {
    return this.database.read('cannot count certificates', () => this.s.count.get()!.n);
  }
}

// ---------------------------------------------------------------------------------------------
// Verification cache

/** Keys per lookup statement: well under SQLite's variable limit, big enough to amortize each call. */
const LOOKUP_CHUNK = 500;

/** `VerificationCache` on a `SqliteDatabase`: one row per checked signature, outcome good (1) or bad (0). */
export class SqliteVerificationCache implements VerificationCache {
  private readonly lookupFull: Database.Statement<Buffer[], [string, number]>;
  private readonly lookupOne: Database.Statement<[Buffer], [string, number]>;
  private readonly upsert: Database.Statement<[Buffer, number]>;
  private readonly countStmt: Database.Statement<[], { n: number }>;

  constructor(readonly database: SqliteDatabase) {
    const db = database.db;
    const marks = new Array(LOOKUP_CHUNK).fill('?').join(',');
    // SQLite hands back the key as hex text: cheaper than a Buffer per row turned into hex here.
    this.lookupFull = db.prepare<Buffer[], [string, number]>(`SELECT lower(hex(key)), good FROM verification_cache WHERE key IN (${marks})`).raw(true);
    this.lookupOne = db.prepare<[Buffer], [string, number]>('SELECT lower(hex(key)), good FROM verification_cache WHERE key = ?').raw(true);
    this.upsert = db.prepare('INSERT INTO verification_cache (key, good) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET good = excluded.good');
    this.countStmt = db.prepare('SELECT count(*) AS n FROM verification_cache');
  }

  async lookup(keys: Buffer[]): Promise<Map<string, boolean>> {
    return this.database.read('cannot read the verification cache', () => {
      const out = new Map<string, boolean>();
      const take = (rows: Array<[string, number]>) => {
        for (const [k, good] of rows) out.set(k, good === 1);
      };
      for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
        const chunk = keys.slice(i, i + LOOKUP_CHUNK);
        if (chunk.length === 1) take(this.lookupOne.all(chunk[0]));
        else {
          // The last chunk is padded with repeats of its first key: IN is a set, so repeats add nothing.
          while (chunk.length < LOOKUP_CHUNK) chunk.push(chunk[0]);
          take(this.lookupFull.all(...chunk));
        }
      }
      return out;
    });
  }

  async record(entries: Array<[Buffer, boolean]>): Promise<void> {
    if (entries.length === 0) return;
    this.database.write('cannot write the verification cache', () => {
      for (const [k, good] of entries) this.upsert.run(k, good ? 1 : 0);
    });
  }

  /** Number of cached outcomes. */
  async size(): Promise<number> {
    return this.database.read('cannot read the verification cache', () => this.countStmt.get()!.n);
  }

  /** Forgets every cached outcome. */
  async clear(): Promise<void> {
    this.database.write('cannot clear the verification cache', () => this.database.db.exec('DELETE FROM verification_cache'));
  }
}

// ---------------------------------------------------------------------------------------------
// Snapshots

const SNAPSHOTS_TABLE = `
  -- Results computed from inputs (key: a digest of the inputs and of what was computed), valid for
  -- reference times strictly between valid_after and valid_before (-1 and 2^53 - 1: unbounded).
  -- One key may have several windows.
  CREATE TABLE IF NOT EXISTS snapshots (
    key BLOB NOT NULL,
    valid_after INTEGER NOT NULL,
    valid_before INTEGER NOT NULL,
    data BLOB NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (key, valid_after)
  ) WITHOUT ROWID;
`;

/** Snapshots kept per database; the least recently used go first. */
const SNAPSHOTS_KEPT = 8;

/** Unix times are never negative, nor beyond 2^53: the stored stand-ins for an unbounded window. */
const NO_START = -1;
const NO_END = Number.MAX_SAFE_INTEGER;
const stored = (t: number) => (t === Number.NEGATIVE_INFINITY ? NO_START : t === Number.POSITIVE_INFINITY ? NO_END : t);
const loaded = (t: number) => (t === NO_START ? Number.NEGATIVE_INFINITY : t === NO_END ? Number.POSITIVE_INFINITY : t);

/**
 * Computed results reused while their inputs are unchanged (`SnapshotStore`): each valid only for
 * reference times inside its window, so a result that depends on expiry is never served stale.
 */
export class SqliteSnapshotStore implements SnapshotStore {
  private readonly getStmt: Database.Statement<[Buffer, number, number], { data: Buffer; valid_after: number; valid_before: number }>;
  private readonly touchStmt: Database.Statement<[number, Buffer, number]>;
  private readonly putStmt: Database.Statement<[Buffer, number, number, Buffer, number]>;
  private readonly pruneStmt: Database.Statement<[number]>;
  private readonly maxUseStmt: Database.Statement<[], { m: number }>;
  private uses = 0;

  /**
   * The table is created here, not by a migration: a store shared with other roles (the
   * authentication store, opened read-only at login) keeps its schema version, so an
   * upgrade never locks out a reader. A read-only database without it has no snapshots.
   */
  static open(database: SqliteDatabase): SqliteSnapshotStore | undefined {
    const db = database.db;
    try {
      if (!db.readonly) db.exec(SNAPSHOTS_TABLE);
      return new SqliteSnapshotStore(database);
    } catch {
      return undefined;
    }
  }

  private constructor(readonly database: SqliteDatabase) {
    const db = database.db;
    this.getStmt = db.prepare('SELECT data, valid_after, valid_before FROM snapshots WHERE key = ? AND valid_after < ? AND valid_before > ? LIMIT 1');
    this.touchStmt = db.prepare('UPDATE snapshots SET used = ? WHERE key = ? AND valid_after = ?');
    this.putStmt = db.prepare(
      'INSERT INTO snapshots (key, valid_after, valid_before, data, used) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key, valid_after) DO UPDATE SET valid_before = excluded.valid_before, data = excluded.data, used = excluded.used',
    );
    this.pruneStmt = db.prepare('DELETE FROM snapshots WHERE (key, valid_after) NOT IN (SELECT key, valid_after FROM snapshots ORDER BY used DESC LIMIT ?)');
    this.maxUseStmt = db.prepare('SELECT coalesce(max(used), 0) AS m FROM snapshots');
  }

  /** A monotonic use counter: wall-clock time would tie within a second and may go backwards. */
  private nextUse(): number {
    this.uses = Math.max(this.uses, this.maxUseStmt.get()!.m) + 1;
    return this.uses;
  }

  async get(key: Buffer, at: number): Promise<{ data: Buffer; window: TimeWindow } | undefined> {
    let row: { data: Buffer; valid_after: number; valid_before: number } | undefined;
    try {
      row = this.getStmt.get(key, at, at);
    } catch {
      return undefined;
    }
    if (!row) return undefined;
    const found = row;
    this.withoutWaiting(() => this.touchStmt.run(this.nextUse(), key, found.valid_after));
    return { data: row.data, window: { after: loaded(row.valid_after), before: loaded(row.valid_before) } };
  }

  async put(key: Buffer, window: TimeWindow, data: Buffer): Promise<boolean> {
    return this.withoutWaiting(() => {
      this.putStmt.run(key, stored(window.after), stored(window.before), data, this.nextUse());
      this.pruneStmt.run(SNAPSHOTS_KEPT);
    });
  }

  /**
   * Snapshots only save work: a write that would wait for another writer, or fails (a read-only
   * file, a full disk), is skipped rather than delaying or failing the answer already computed.
   */
  private withoutWaiting(fn: () => void): boolean {
    const db = this.database.db;
    const timeout = db.pragma('busy_timeout', { simple: true }) as number;
    try {
      db.pragma('busy_timeout = 0');
      db.transaction(fn).immediate();
      return true;
    } catch {
      return false;
    } finally {
      db.pragma(`busy_timeout = ${timeout}`);
    }
  }
}
