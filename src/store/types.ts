/**
 * The store, as small role interfaces, so the same callers run on SQLite (src/store/sqlite/,
 * one file per host or user, the embedded default) and on PostgreSQL (src/store/postgres/,
 * a keyserver's database). What each method MUST and MAY do is stated here, as hockeypuck's
 * storage.go does; every implementation runs the one conformance suite in test/store/.
 *
 * A `Store` is one database: certificates and what is derived from them (the key, user ID
 * and certification indexes, SKS digests, the change feed) are written together, in one
 * transaction per call, by the store itself, so no caller writes the store's tables and no
 * index lags behind the certificates. Services keep their own state in `meta` and in
 * derived tables (`DerivedTables`), never in tables of their own.
 *
 * Common rules:
 * - Fingerprints and key IDs are hex, compared case-insensitively; results carry upper-case
 *   hex (src/openpgp/fingerprint.ts).
 * - Every method that writes MUST be atomic: after a crash the store holds the old or the new
 *   state of that call, never a mix, and never a corrupt file.
 * - Lookups that can match several certificates return them ordered by fingerprint, without
 *   duplicates; no match is an empty array, never an error.
 * - Times are `UnixTime` from the caller (src/clock.ts), never the store's clock.
 * - A store opened read-only MUST answer every read and MUST throw EnvironmentError
 *   (MS_STORE_READONLY) from every write, except the best-effort caches (snapshots,
 *   verification results), which silently keep nothing.
 *
 * Not here: policy (what a certificate is worth) and parsing beyond src/openpgp.
 */
import type { TimeWindow } from '../cert/time-window.js';
import type { UnixTime } from '../clock.js';
import type { Cert } from '../openpgp/cert.js';
import type { Fingerprint, KeyId } from '../openpgp/fingerprint.js';
import type { PrefixTree, ReconSettings } from '../recon/ptree.js';
import type { VerificationCache } from '../verify/cache.js';

export type { VerificationCache };

/** What `put` did with a certificate. */
export type PutStatus = 'inserted' | 'updated' | 'unchanged';

export interface PutResult {
  fpr: Fingerprint;
  status: PutStatus;
  /** The stored certificate after the merge, parsed from exactly the stored bytes. */
  cert: Cert;
  /** The stored bytes after the call. */
  bytes: Buffer;
  /** Their SKS digest, and the certificate's `StoredCert.serial` (what `CertNotes` are keyed by). */
  digest: Buffer;
  serial: number;
}

/**
 * A certificate as stored, with the bookkeeping a keyserver or a cache needs. `bytes` is
 * there at once; `cert` is parsed from them on first access, so iterating, serving and
 * hashing stored certificates parse nothing.
 */
export interface StoredCert {
  fpr: Fingerprint;
  /** The stored bytes (binary packets, no armor). */
  bytes: Buffer;
  /** The bytes, parsed (on first access; later accesses return the same object). */
  readonly cert: Cert;
  /** Unix seconds of the first put. */
  created: UnixTime;
  /** Unix seconds of the last put that changed the bytes. */
  updated: UnixTime;
  /** The SKS digest of the stored bytes (`sksDigest`, 16 bytes of MD5). */
  digest: Buffer;
  /**
   * Store order: increases with each certificate first stored, and stays for the life of the
   * certificate (a deleted and re-added certificate gets a new one).
   */
  serial: number;
}

/** A store of public certificates keyed by primary fingerprint. */
export interface CertStore {
  /**
   * Stores `cert`, merged with the stored copy of the same primary key (packet union, as
   * `mergeCerts`). What is stored MUST be canonical (`canonicalCert`: each user ID, attribute
   * and subkey once), so a signature merged in later cannot land on a duplicate that readers
   * ignore. The bytes stored MUST be exactly `writeCert` of the (canonical) merged certificate
   * with trust and marker packets left out, so `get` returns the very packets that were put,
   * in their order, when they were canonical.
   * The status MUST be `unchanged` when the merge adds nothing (the bytes are identical); then
   * nothing is written, not even a change.
   * @throws InputError (MS_STORE_SECRET) for a secret key: this is a store of public certificates.
   */
  put(cert: Cert, now: UnixTime): Promise<PutResult>;
  /** Like `put` for each certificate, all in one transaction (bulk loading); results in input order. */
  putMany(certs: Iterable<Cert>, now: UnixTime): Promise<PutResult[]>;
  /**
   * Compare and swap: replaces the stored certificate with `cert` (the same primary key) when
   * the stored bytes are still exactly `expected`, and returns the result; returns undefined,
   * writing nothing, when they changed meanwhile or the certificate is gone. Unlike `put` it
   * does not merge, so it can take packets away (trimming a flood, say). `cert` is stored
   * canonical; status `unchanged` when the bytes come out the same.
   * @throws InputError (MS_STORE_SECRET) for a secret key; InputError (MS_STORE_MISMATCH) when `cert` has another primary key.
   */
  replace(fpr: string, expected: Buffer, cert: Cert, now: UnixTime): Promise<PutResult | undefined>;
  /** The certificate with this primary fingerprint; `undefined` when absent. Subkey fingerprints MUST NOT match. */
  get(fpr: string): Promise<StoredCert | undefined>;
  /** The certificates with these primary fingerprints, in the order given; absent ones are left out. */
  getMany(fprs: readonly string[]): Promise<StoredCert[]>;
  /**
   * Certificates with a primary key or subkey matching `id`, which MUST match as:
   * a key ID when it has 16 digits (the low 64 bits of a v4 fingerprint, the high 64 of a v6 one);
   * a short key ID when it has 8 (the low 32 bits of a key ID, so a v6 key's digits 9 to 16);
   * and a fingerprint suffix at any length from 8 to 64, so whole fingerprints and the key IDs
   * of v4 keys work either way. An optional `0x` and spaces are ignored.
   * @throws InputError (MS_STORE_KEYID) when `id` is not 8 to 64 hex digits.
   */
  byKeyId(id: string): Promise<StoredCert[]>;
  /**
   * Certificates with a primary key or subkey whose fingerprint is exactly `fpr` (40 or 64 hex
   * digits): what a lookup by fingerprint asks, as one keyed read (`byKeyId` would also match
   * longer fingerprints ending with it).
   * @throws InputError (MS_STORE_KEYID) when `fpr` is not 40 or 64 hex digits.
   */
  byFingerprint(fpr: string): Promise<StoredCert[]>;
  /**
   * Which of these key IDs (16 hex digits each; others are ignored) belong to the primary key of
   * a stored certificate: one pair per (key ID, certificate), ordered by key ID then fingerprint.
   * Subkeys MUST NOT match. For resolving many issuers at once: a flooded certificate names
   * thousands, nearly all unknown.
   */
  primariesByKeyId(keyIds: readonly string[]): Promise<Array<{ keyId: KeyId; fpr: Fingerprint }>>;
  /** Certificates that carry a user ID packet whose UTF-8 text is exactly `text` (case-sensitive). */
  byExactUserId(text: string): Promise<StoredCert[]>;
  /**
   * Certificates with a user ID whose address (src/openpgp/user-id.ts `addressOf`) is `address`,
   * both folded (`foldAddress`), ordered by fingerprint, at most `limit`. A keyed lookup: how
   * many other addresses share its domain or its letters does not matter. Text that is not an
   * address finds nothing.
   */
  byAddress(address: string, limit: number): Promise<StoredCert[]>;
  /**
   * Every certificate, in fingerprint order, streamed in pages so memory stays flat. Writes made
   * while iterating MAY or MAY NOT be seen; a certificate present for the whole iteration MUST be
   * seen once.
   */
  all(): AsyncIterable<StoredCert>;
  /**
   * Removes the certificate (and its index rows, and records a change at `now`, or when `now` is
   * not given at the time of the certificate's last write); true when it was there.
   */
  delete(fpr: string, now?: UnixTime): Promise<boolean>;
  count(): Promise<number>;
}

/** One certification found on a certificate: who claims to have certified it. Unverified. */
export interface CertificationRow {
  /** The certified certificate (the target). */
  target: Fingerprint;
  /** The target's store order (`StoredCert.serial`). */
  targetSerial: number;
  /** The issuer's key ID: from its issuer fingerprint subpacket when present, else its issuer key ID. */
  issuer: KeyId;
  /** Whether any of the issuer's signatures over the target's user IDs is a trust signature (level > 0). */
  trust: boolean;
}

/**
 * Who certified whom, as the certificates claim (`certificationIssuers` of each stored
 * certificate: signatures over user IDs by keys other than the certificate's own primary).
 * Maintained by the store in the same transaction as the certificate, so it MUST always
 * agree with the stored certificates. Nothing here is verified: callers verify what they use.
 */
export interface CertificationIndex {
  /** Certifications made by any of these key IDs, one row per (issuer, target), ordered by target serial then issuer. */
  certifiedBy(issuers: readonly string[]): Promise<CertificationRow[]>;
  /** Certifications on this certificate, one row per issuer, ordered by issuer. */
  certificationsOf(target: string): Promise<CertificationRow[]>;
}

/** One change to the stored certificates. */
export interface Change {
  /** Strictly increasing over the life of the store; never reused, even after a prune. */
  seq: number;
  fpr: Fingerprint;
  /** The digest now stored; undefined when the certificate was deleted. */
  added?: Buffer;
  /** The digest stored before; undefined when the certificate is new. */
  removed?: Buffer;
  at: UnixTime;
}

/**
 * The change feed: one entry per write that changed a certificate's stored bytes (insert,
 * update, replace, delete), appended in the same transaction, so a reader that remembers
 * `latest()` knows whether anything changed and a recon peer knows which digests came and went.
 */
export interface ChangeFeed {
  /** The seq of the last change; 0 for a store never changed. */
  latest(): Promise<number>;
  /** Changes with seq > `after`, oldest first, at most `limit`. */
  since(after: number, limit: number): Promise<Change[]>;
  /** MAY drop changes with seq <= `upTo` (keeping `latest()`); returns how many were dropped. */
  prune(upTo: number): Promise<number>;
}

/** Certificates by SKS digest (the key hash SKS and Hockeypuck reconcile on). */
export interface DigestIndex {
  /**
   * The stored certificates with these digests, in the order given (several for one digest in
   * fingerprint order: MD5 collisions can be made on purpose, so a digest MUST NOT keep another
   * certificate out of the store); unknown digests are left out.
   */
  byDigest(digests: readonly Buffer[]): Promise<StoredCert[]>;
  /** Every stored digest once, streamed in pages, in byte order. */
  digests(): AsyncIterable<Buffer>;
}

/** Text search over user IDs. */
export interface UserIdSearch {
  /**
   * Certificates with a user ID containing `text`, compared after `toLowerCase()` of both (so
   * case-insensitive for every script), ordered by fingerprint, at most `limit`.
   * @throws InputError (MS_STORE_SEARCH) when `text` is empty.
   */
  searchUserIds(text: string, limit: number): Promise<StoredCert[]>;
}

/**
 * Small named settings (schema notes, last refresh times, recon state). Values are strings;
 * callers encode anything else. A missing key reads as `undefined`.
 */
export interface MetaStore {
  getMeta(key: string): Promise<string | undefined>;
  /** Sets or replaces a value atomically. */
  setMeta(key: string, value: string): Promise<void>;
  /** True when the key was there. */
  deleteMeta(key: string): Promise<boolean>;
}

/**
 * Results computed from inputs, reused while the inputs are unchanged: a computed web of
 * trust, say. `key` names the inputs and the computation (a digest); each snapshot holds for
 * the reference times strictly inside its window (see src/cert/time-window.ts).
 */
export interface SnapshotStore {
  /** The snapshot under `key` if its window contains `at`; undefined otherwise. */
  get(key: Buffer, at: UnixTime): Promise<{ data: Buffer; window: TimeWindow } | undefined>;
  /**
   * Stores (or replaces) a snapshot; the store MAY drop the least recently used ones. Best effort:
   * MUST NOT throw or wait for other writers; returns whether it was stored.
   */
  put(key: Buffer, window: TimeWindow, data: Buffer): Promise<boolean>;
}

/**
 * A service's note on a stored certificate: a value computed from exactly its stored bytes (the
 * keyserver's index summary), holding for reference times strictly inside its window, so a
 * lookup reads it instead of parsing and evaluating the certificate again. The store drops a
 * certificate's note in the transaction that changes or deletes its bytes, and `get` returns a
 * note only with the digest it was computed from, so no reader sees a note beside other bytes.
 * Best effort, as the other caches: `put` MUST NOT throw or wait for other writers (a lookup
 * writes notes), and a read-only store keeps nothing.
 */
export interface CertNotes {
  /** The notes of these stored certificates (as read: `serial`, `digest`) that hold at `at`, by serial. */
  get(certs: ReadonlyArray<Pick<StoredCert, 'serial' | 'digest'>>, at: UnixTime): Promise<Map<number, { data: Buffer; window: TimeWindow }>>;
  /** Stores notes on certificates whose stored digest is still `digest` (others are skipped); returns how many were stored. */
  put(notes: readonly CertNote[]): Promise<number>;
}

/** A note on the certificate `serial` as computed from the bytes with `digest`, holding inside `window`. */
export interface CertNote {
  serial: number;
  digest: Buffer;
  window: TimeWindow;
  data: Buffer;
}

/**
 * Tables computed from the certificates and looked up by key: the authentication service's
 * precomputed bindings (user ID → certificate, validity, keys), say. Each table is replaced as
 * a whole, together with a stamp saying what it was computed from, and only when no
 * certificate changed since the computation started, so a reader never sees a table older
 * than its stamp claims.
 */
export interface DerivedTables {
  /** The stamp of table `name`, and the change seq it was computed at; undefined when never written. */
  stamp(name: string): Promise<{ stamp: string; seq: number } | undefined>;
  /** The values under `key` in table `name`, in the order they were given to `replace`. */
  lookup(name: string, key: string): Promise<string[]>;
  /**
   * Replaces table `name` with `rows` and its stamp, in one transaction, when `ChangeFeed.latest()`
   * still equals `seq`; returns false, writing nothing, when it moved on.
   */
  replace(name: string, stamp: string, seq: number, rows: ReadonlyArray<readonly [key: string, value: string]>): Promise<boolean>;
}

/**
 * A third-party certification held aside by a keyserver: its issuer's key is not stored, so it
 * cannot be verified, and it is not served; it waits for the issuer's key (src/server/).
 */
export interface HeldCertification {
  /** The certified certificate. */
  target: Fingerprint;
  /** The issuer's key ID, as the signature names it (from its issuer fingerprint when it has one). */
  issuer: KeyId;
  /** The user ID or user attribute packet it certifies: header and body, as received. */
  component: Buffer;
  /** The signature packet: header and body, as received. */
  sig: Buffer;
  /** The signature's creation time. */
  created: UnixTime;
  /** When it was first held. */
  held: UnixTime;
}

/**
 * Certifications held aside, by target and by issuer. Bounded per target: a flood of
 * certifications by unknown issuers MUST NOT grow the store without limit. A held
 * certification is identified by its target and its exact signature packet bytes.
 */
export interface HeldCertifications {
  /**
   * Holds these certifications; one already held (same target and signature bytes) keeps its
   * first `held` time. Afterwards each target touched MUST hold at most `maxPerTarget`: the
   * newest by `created`, ties broken by signature bytes (bytewise ascending), the others are
   * removed. Returns how many of the given ones are held after the call.
   */
  hold(items: readonly HeldCertification[], maxPerTarget: number): Promise<number>;
  /** Those made by any of these key IDs (16 hex), ordered by target, then newest first, then signature bytes. */
  byIssuer(keyIds: readonly string[]): Promise<HeldCertification[]>;
  /** Those held on `target`, newest first (ties by signature bytes). */
  of(target: string): Promise<HeldCertification[]>;
  /** How many are held on `target`. */
  count(target: string): Promise<number>;
  /** Removes these (by target and signature bytes); returns how many were held. */
  remove(items: ReadonlyArray<{ target: string; sig: Buffer }>): Promise<number>;
  /** Removes all held on `target` (its certificate was deleted); returns how many. */
  removeTarget(target: string): Promise<number>;
}

/** The SKS prefix trees (src/recon) of the stored certificates' digests, persisted in the store. */
export interface ReconTrees {
  /**
   * The tree for these settings (one per settings; created empty on first use, then caught up).
   * Opening reads and writes nothing: a tree never written reads as empty at seq 0, and its
   * first `catchUp` builds it (`rebuild`). Works on a read-only store, for reading.
   */
  open(settings: ReconSettings): Promise<ReconTree>;
}

/**
 * One persisted prefix tree. Its elements are the stored certificates' digests (zp.ts
 * `zpFromDigest`), each once however many certificates share it; the few digests that are
 * sample points (0, 1, 2, …: an MD5 preimage away) cannot be reconciled and are left out, as
 * SKS refuses them. Reads (`root`, `node`, `has`) see committed trees only; a walk that spans a
 * concurrent `catchUp` MAY see nodes from both sides of it (a recon session then disagrees
 * with its peer on that prefix and tries again on the next sync). `insert` and `remove` each
 * commit at once without moving the seq: for tests and tools, since the tree then differs from
 * the digests until the next `rebuild`; a keyserver changes the tree only through `catchUp`.
 */
export interface ReconTree extends PrefixTree {
  /**
   * Applies the change feed after the tree's own seq: digests added are inserted, digests
   * removed taken out (each in store transactions); returns the seq reached. A feed pruned
   * past the tree's seq, or a tree from older code, means rebuild(). Safe against several
   * processes calling it at once.
   * A digest is in the tree after the call when some stored certificate has it, whatever
   * order the changes came in: each digest a change names is set to what the digest index
   * says (so a digest two certificates share stays until the last goes). MUST reach at least
   * the `ChangeFeed.latest()` seen when it started. MAY rebuild instead of applying a long
   * backlog.
   * @throws EnvironmentError (MS_STORE_READONLY) on a read-only store with changes to apply.
   */
  catchUp(): Promise<number>;
  /** Rebuilds the tree from the stored digests (`digests.digests()`), e.g. for a store that had none; returns how many elements. */
  rebuild(): Promise<number>;
  /** The change seq the tree reflects. */
  seq(): Promise<number>;
}

/** One database, all roles. */
export interface Store {
  readonly certs: CertStore;
  readonly certifications: CertificationIndex;
  readonly changes: ChangeFeed;
  readonly digests: DigestIndex;
  readonly search: UserIdSearch;
  readonly meta: MetaStore;
  readonly derived: DerivedTables;
  readonly snapshots: SnapshotStore;
  readonly verifications: VerificationCache;
  readonly notes: CertNotes;
  readonly held: HeldCertifications;
  readonly reconTrees: ReconTrees;
  /** Opened without write access: reads work, writes throw MS_STORE_READONLY, caches keep nothing. */
  readonly readonly: boolean;
  /** A description for messages: the file path, or the database URL without its password. */
  readonly location: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Open without writing: no file creation, no migrations (the schema must be current or read-compatible). */
  readonly?: boolean;
  /** How long a write waits for another writer before failing with MS_STORE_BUSY (default 5000 ms). */
  busyTimeoutMs?: number;
}
