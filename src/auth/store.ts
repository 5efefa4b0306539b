/**
 * The server's trust store, on the one `Store` (src/store/types.ts): by default one SQLite
 * file ($SYSDATADIR/authentication/store.sqlite). What monkeysphere-authentication adds to
 * it lives in the store's own roles, never in tables of its own:
 *
 * - the trust core's fingerprint, in meta (`auth.core`);
 * - the precomputed bindings, a derived table (`auth.bindings`: per user ID, each
 *   certificate's validity letter and the SSH keys it grants, so answering sshd is a
 *   lookup), stamped with what they were computed from: the change seq of the
 *   certificates, the core, the code, and the span of reference times they hold for.
 *
 * Who certified whom comes from the store's certification index, kept with the
 * certificates in the same transaction, so nothing here can lag behind a write.
 * Not here: how validity is computed (compute.ts), files outside the store.
 */
import type { UnixTime } from '../clock.js';
import type { Cert } from '../openpgp/cert.js';
import { type Fingerprint, keyIdOf } from '../openpgp/fingerprint.js';
import { openStore } from '../store/index.js';
import type { CertStore, PutResult, Store, StoredCert } from '../store/types.js';
import { codeDigest, EVALUATION_CODE } from '../util/code-digest.js';
import type { VerificationCache } from '../verify/cache.js';

/**
 * The code that decides bindings: evaluation, trust, and how keys are granted. Bindings
 * computed by other code (before an upgrade) are not fresh, so an upgrade that fixes a
 * rule takes effect at once, not when the certificates next change.
 */
function bindingsCode(): string {
  return codeDigest([...EVALUATION_CODE, 'auth', 'ssh']).toString('hex');
}

const CORE = 'auth.core';
const BINDINGS = 'auth.bindings';
/** More matches than any listing needs; a bound all the same. */
const SEARCH_LIMIT = 100_000;

/** What the precomputed bindings were computed from. */
export interface BindingsStamp {
  core: string;
  /** Unix seconds: the reference time they were computed at. */
  validFrom: UnixTime;
  /** Unix seconds: the first time something in the computation expires or starts; null for never. */
  validUntil: UnixTime | null;
  /** Digest of the code that computed them. */
  code: string;
}

export interface AuthState {
  /** The change seq of the certificates now. */
  seq: number;
  coreFpr: Fingerprint | null;
  /** The stamp of the stored bindings and the seq they were computed at; null before any. */
  computed: (BindingsStamp & { seq: number }) | null;
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
  /** Store order of the certificate. */
  serial: number;
  fpr: Fingerprint;
  /** Whether one of those certifications is a trust signature (level > 0). */
  tsig: boolean;
}

export interface OpenOptions {
  /** Open without writing; what an unprivileged AuthorizedKeysCommand does. */
  readonly?: boolean;
}

export class AuthStore {
  private constructor(readonly store: Store) {}

  /**
   * Opens the store at `location` (a path, or a PostgreSQL URL), creating and migrating it
   * unless read-only.
   * @throws EnvironmentError (MS_STORE_IO, MS_STORE_SCHEMA) or TemporaryError (MS_STORE_BUSY)
   */
  static async open(location: string, opts: OpenOptions = {}): Promise<AuthStore> {
    // A rollback journal, not WAL: sshd's unprivileged AuthorizedKeysCommandUser reads the
    // store without write access to it or its directory, which a WAL reader would need.
    return new AuthStore(await openStore(location, { readonly: opts.readonly, journal: 'rollback' }));
  }

  get certs(): CertStore {
    return this.store.certs;
  }

  get cache(): VerificationCache {
    return this.store.verifications;
  }

  get readonly(): boolean {
    return this.store.readonly;
  }

  get location(): string {
    return this.store.location;
  }

  close(): Promise<void> {
    return this.store.close();
  }

  async state(): Promise<AuthState> {
    const [seq, core, stamp] = await Promise.all([this.store.changes.latest(), this.store.meta.getMeta(CORE), this.store.derived.stamp(BINDINGS)]);
    return { seq, coreFpr: (core as Fingerprint | undefined) ?? null, computed: stamp ? { ...(JSON.parse(stamp.stamp) as BindingsStamp), seq: stamp.seq } : null };
  }

  async setCore(fpr: string): Promise<void> {
    await this.store.meta.setMeta(CORE, fpr);
  }

  /** Whether the precomputed bindings answer for reference time `now`. */
  async isFresh(now: UnixTime, state?: AuthState): Promise<boolean> {
    const s = state ?? (await this.state());
    const c = s.computed;
    return (
      c !== null &&
      c.seq === s.seq &&
      c.core === s.coreFpr &&
      c.code === bindingsCode() &&
      now >= c.validFrom &&
      (c.validUntil === null || now < c.validUntil)
    );
  }

  /** Stores certificates made here (the core's own, its certifications), merged with what is stored. */
  async putCerts(certs: Cert[], now: UnixTime): Promise<PutResult[]> {
    return this.store.certs.putMany(certs, now);
  }

  /**
   * Stores certificates from outside (src/auth/ingest.ts, the only caller): merged with
   * what is stored, then each merged result passed to `trim`, which may leave signatures
   * out. The trimmed certificate replaces the merged one unless someone changed it in
   * between; then the merged one stays, to be trimmed by the next ingest.
   */
  async putCertsTrimmed(certs: Cert[], now: UnixTime, trim: (merged: Cert) => Promise<Cert | undefined>): Promise<PutResult[]> {
    const results = await this.store.certs.putMany(certs, now);
    if (this.readonly) return results;
    const out: PutResult[] = [];
    for (const r of results) {
      const t = await trim(r.cert);
      const replaced = t ? await this.store.certs.replace(r.fpr, r.bytes, t, now) : undefined;
      if (!replaced || replaced.status === 'unchanged') out.push(r);
      else out.push({ ...replaced, status: r.status === 'inserted' ? 'inserted' : 'updated' });
    }
    return out;
  }

  /** Certificates certified by any of these key IDs, one row each, in store order. */
  async certifiedBy(keyIds: string[]): Promise<CertifiedRow[]> {
    if (keyIds.length === 0) return [];
    const out = new Map<string, CertifiedRow>();
    for (const r of await this.store.certifications.certifiedBy(keyIds)) {
      const prev = out.get(r.target);
      out.set(r.target, { serial: r.targetSerial, fpr: r.target, tsig: (prev?.tsig ?? false) || r.trust });
    }
    return [...out.values()].sort((a, b) => a.serial - b.serial);
  }

  /** The stored certificates with these fingerprints (absent ones are left out), in the order given. */
  async loadCerts(fprs: string[]): Promise<Cert[]> {
    return (await this.store.certs.getMany(fprs)).map((s) => s.cert);
  }

  /** Certificates with a user ID containing `text`, case-insensitively, in fingerprint order. */
  async searchUserIds(text: string): Promise<StoredCert[]> {
    return this.store.search.searchUserIds(text, SEARCH_LIMIT);
  }

  /** Store order of a certificate, or undefined when it is not stored. */
  async serialOf(fpr: string): Promise<number | undefined> {
    return (await this.store.certs.get(fpr))?.serial;
  }

  /** Precomputed bindings of a user ID (exact, case-sensitive), in certificate order. */
  async bindingsFor(uid: string): Promise<BindingRow[]> {
    return (await this.store.derived.lookup(BINDINGS, uid)).map((v) => {
      const { fpr, validity, keys } = JSON.parse(v) as { fpr: string; validity: string; keys: string[] };
      return { uid, fpr, validity, keys };
    });
  }

  /** The precomputed validity letter of `uid` on certificate `fpr`; `-` when there is none. */
  async validity(fpr: string, uid: string): Promise<string> {
    return (await this.bindingsFor(uid)).find((r) => r.fpr === fpr)?.validity ?? '-';
  }

  /**
   * Replaces every precomputed binding, unless the certificates changed since `seq` was
   * read (then the result is stale and dropped; returns false).
   */
  async saveBindings(rows: BindingRow[], seq: number, core: string, validFrom: UnixTime, validUntil: UnixTime | null): Promise<boolean> {
    const stamp: BindingsStamp = { core, validFrom, validUntil, code: bindingsCode() };
    const table = rows.map((r) => [r.uid, JSON.stringify({ fpr: r.fpr, validity: r.validity, keys: r.keys })] as const);
    return this.store.derived.replace(BINDINGS, JSON.stringify(stamp), seq, table);
  }
}

/** The 16-hex-digit key ID of a fingerprint: one definition, in openpgp/fingerprint. */
export { keyIdOf };
