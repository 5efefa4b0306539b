/**
 * What the web-of-trust engine reads and answers: summaries of keys, user IDs and
 * certifications (no packets), trust options, and per-binding results. Built from
 * evaluated certificates by from-cert.ts, or by hand in tests.
 */
import type { CertificationSummary, SigOutcome, Status } from '../cert/types.js';

/** State of a key or user ID at the reference time. */
export type ComponentStatus = Status;

/** How a certification's signature fared; `unchecked` ones are verified on demand, by issuer. */
export type CertOutcome = SigOutcome;

/** The engine's view of a certification: the cert layer's packet-free summary. */
export type WotCertification = CertificationSummary;

export interface WotUserId {
  text: string;
  /** A user attribute (photo ID): it takes part in the computation but is not a binding. */
  attribute?: boolean;
  status: ComponentStatus;
  /** Unix seconds. */
  expires?: number;
  revokedAt?: number;
  /** Third-party certifications and certification revocations, in packet order. */
  certifications: WotCertification[];
}

export interface WotKey {
  /** Uppercase hex fingerprint of the primary key. */
  fpr: string;
  keyId: string;
  /** Unix seconds. */
  created: number;
  status: ComponentStatus;
  expires?: number;
  revocation?: { time: number; reason?: string };
  userIds: WotUserId[];
}

/** GnuPG's trust values (trustdb.h); the same codes serve as ownertrust and validity. */
export const Trust = {
  Unknown: 0,
  Expired: 1,
  Undefined: 2,
  Never: 3,
  Marginal: 4,
  Full: 5,
  Ultimate: 6,
} as const;
export type TrustValue = (typeof Trust)[keyof typeof Trust];

/** GnuPG's validity letters, as in field 2 of `--with-colons`. */
export const VALIDITY_LETTERS = ['u', 'f', 'm', 'q', 'n', '-', 'e', 'r', 'i'] as const;
export type ValidityLetter = (typeof VALIDITY_LETTERS)[number];

export const TRUST_LETTERS: Readonly<Record<number, ValidityLetter>> = { 0: '-', 1: 'e', 2: 'q', 3: 'n', 4: 'm', 5: 'f', 6: 'u' };

export interface TrustOptions {
  /** Ultimately trusted keys (fingerprints). */
  roots: string[];
  /** Ownertrust by fingerprint (Trust values; 6 makes a root too). */
  ownertrust?: ReadonlyMap<string, number>;
  /** Reference time, Unix seconds. */
  now: number;
  /** Default 3. */
  marginalsNeeded?: number;
  /** Default 1. */
  completesNeeded?: number;
  /** Default 5. */
  maxCertDepth?: number;
  /** Certifications of class 0x11–0x13 whose level (class − 0x10) is below this are ignored; default 2. */
  minCertLevel?: number;
  /**
   * `strict` (default): GnuPG's model, but a binding is valid only if it is valid
   * both under GnuPG 2.2's exact rules and under our stricter scoping (docs/design/wot.md).
   * `gnupg`: GnuPG 2.2's rules alone, for comparison.
   */
  model?: 'strict' | 'gnupg';
  /**
   * true (default): trust signatures delegate trust, as GnuPG's `pgp` model. false: GnuPG's
   * `classic` model, where a trust signature counts as an ordinary certification (no
   * delegation, no regular-expression scope).
   */
  trustSignatures?: boolean;
  /**
   * `explanations` (default): verify every certification made by an introducer, so each
   * binding can be explained in full. `validity`: verify only what decides the letters
   * (per user ID, the most trusted introducers first, until more cannot change the
   * letter); the letters are the same, explanations are not available.
   */
  detail?: 'explanations' | 'validity';
}

/**
 * Verifies these `unchecked` certifications, updating each one's `outcome` in place.
 * Called before each level's scan with what that scan needs.
 */
export type VerifyCertifications = (certifications: WotCertification[]) => Promise<void>;
