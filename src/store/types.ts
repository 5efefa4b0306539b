/**
 * Storage roles for certificates and small settings, as interfaces, so the same callers
 * run on SQLite (src/store/sqlite.ts, one file per host or user) and later on PostgreSQL
 * (the keyserver). Return semantics are stated with MUST/MAY, as hockeypuck's storage.go
 * does; every implementation runs the conformance suite in test/store/.
 * Not here: policy (what a certificate is worth) and parsing beyond src/openpgp.
 */
import type { TimeWindow } from '../cert/time-window.js';
import type { Cert } from '../openpgp/cert.js';

/** What `put` did with a certificate. */
export type PutStatus = 'inserted' | 'updated' | 'unchanged';

export interface PutResult {
  /** Uppercase hex fingerprint of the primary key. */
  fpr: string;
  status: PutStatus;
  /** The stored certificate after the merge, parsed from exactly the stored bytes. */
  cert: Cert;
}

/** A certificate as stored, with the bookkeeping a keyserver or a cache needs. */
export interface StoredCert {
  fpr: string;
  cert: Cert;
  /** The stored bytes (binary packets, no armor). */
  bytes: Buffer;
  /** Unix seconds of the first put. */
  created: number;
  /** Unix seconds of the last put that changed the bytes. */
  updated: number;
}

/**
 * A store of public certificates keyed by primary fingerprint.
 *
 * - Fingerprints and key IDs are hex, compared case-insensitively; results carry uppercase hex.
 * - Every method that writes MUST be atomic: after a crash the store holds either the old or the new
 *   state of that call, never a mix, and never a corrupt file.
 * - Lookups that can match several certificates return them ordered by fingerprint, without duplicates;
 *   no match is an empty array, never an error.
 * - Time stamps come from the `now` the caller passes, never from the clock.
 */
export interface CertStore {
  /**
   * Stores `cert`, merged with the stored copy of the same primary key (packet union, as
   * `mergeCerts`). What is stored MUST be canonical (`canonicalCert`: each user ID, attribute and
   * subkey once), so a signature merged in later cannot land on a duplicate that readers ignore.
   * The bytes stored MUST be exactly `writeCert` of the (canonical) merged certificate with trust
   * and marker packets left out, so `get` returns the very packets that were put, in their order,
   * when they were canonical.
   * The status MUST be `unchanged` when the merge adds nothing (the bytes are identical).
   * @throws InputError (MS_STORE_SECRET) for a secret key: this is a store of public certificates.
   */
  put(cert: Cert, now: Date): Promise<PutResult>;
  /** Like `put` for each certificate, all in one transaction (bulk loading); results in input order. */
  putMany(certs: Iterable<Cert>, now: Date): Promise<PutResult[]>;
  /** The certificate with this primary fingerprint; `undefined` when absent. Subkey fingerprints MUST NOT match. */
  get(fpr: string): Promise<StoredCert | undefined>;
  /**
   * Certificates with a primary key or subkey matching `id`, which MUST match both ways:
   * as a key ID when it has 16 digits (the low 64 bits of a v4 fingerprint, the high 64 of a v6 one),
   * and as a fingerprint suffix at any length, so short key IDs (8 digits), long key IDs of v4 keys and
   * whole fingerprints all work. An optional `0x` is ignored.
   * @throws InputError (MS_STORE_KEYID) when `id` is not 8 to 64 hex digits.
   */
  byKeyId(id: string): Promise<StoredCert[]>;
  /** Certificates that carry a user ID packet whose UTF-8 text is exactly `text` (case-sensitive). */
  byExactUserId(text: string): Promise<StoredCert[]>;
  /**
   * Every certificate, in fingerprint order, streamed in pages so memory stays flat. Writes made while
   * iterating MAY or MAY NOT be seen; a certificate present for the whole iteration MUST be seen once.
   */
  all(): AsyncIterable<StoredCert>;
  /** Removes the certificate; true when it was there. */
  delete(fpr: string): Promise<boolean>;
  count(): Promise<number>;
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
 * Results computed from inputs, reused while the inputs are unchanged: a computed web of trust,
 * say. `key` names the inputs and the computation (a digest); each snapshot holds for the
 * reference times strictly inside its window (see src/cert/time-window.ts).
 */
export interface SnapshotStore {
  /** The snapshot under `key` if its window contains `at`; undefined otherwise. */
  get(key: Buffer, at: number): Promise<{ data: Buffer; window: TimeWindow } | undefined>;
  /**
   * Stores (or replaces) a snapshot; the store MAY drop the least recently used ones. Best effort:
   * MUST NOT throw or wait for other writers; returns whether it was stored.
   */
  put(key: Buffer, window: TimeWindow, data: Buffer): Promise<boolean>;
}
