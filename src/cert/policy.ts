/**
 * Which cryptographically good signatures count. GnuPG 2.2's rules by default: MD5
 * never; SHA-1 third-party certifications only if made up to 2019-01-19 (CVE-2019-14855);
 * self-signatures exempt from the SHA-1 rule.
 */
import { isoDate } from '../clock.js';
import { HASH_LABELS, HashAlg } from '../openpgp/algorithms.js';
import type { Signature } from '../openpgp/signature.js';

export interface Policy {
  /** SHA-1 third-party certifications made after this time (Unix seconds) are rejected; null accepts them all. */
  sha1CertificationCutoff: number | null;
  /** Hash algorithms never accepted, for any signature. */
  rejectedHashes: readonly number[];
  /** Accept signatures dated before their issuer's key or after `now` (gpg's --ignore-time-conflict). */
  ignoreTimeConflict: boolean;
}

/** 2019-01-19T00:00:00Z, GnuPG 2.2.18+'s SHA-1 cut-off for third-party key signatures. */
export const GNUPG_SHA1_CUTOFF = 1547856000;

export const DEFAULT_POLICY: Policy = Object.freeze({
  sha1CertificationCutoff: GNUPG_SHA1_CUTOFF,
  rejectedHashes: Object.freeze([HashAlg.MD5]),
  ignoreTimeConflict: false,
});

/** Why policy rejects a self-signature, or undefined when it is acceptable. */
export function selfSignatureRejection(sig: Signature, policy: Policy): string | undefined {
  if (policy.rejectedHashes.includes(sig.hashAlgorithm)) return `${HASH_LABELS[sig.hashAlgorithm] ?? sig.hashAlgorithm} signatures are not accepted`;
  if (sig.defects.length > 0) return sig.defects.join(', ');
  return undefined;
}

/** Why policy rejects a third-party certification, or undefined when it is acceptable. */
export function certificationRejection(sig: Signature, policy: Policy): string | undefined {
  const base = selfSignatureRejection(sig, policy);
  if (base) return base;
  const cutoff = policy.sha1CertificationCutoff;
  if (sig.hashAlgorithm === HashAlg.SHA1 && cutoff !== null && sig.created > cutoff) {
    return `SHA-1 certification made after ${isoDate(cutoff)}`;
  }
  return undefined;
}

/**
 * GnuPG's time-conflict rule (sig-check.c): a signature older than the key that made it,
 * or made by a key created in the future. Like gpg, a signature dated after `now` is not
 * a conflict: a future-dated revocation must still revoke.
 */
export function timeConflict(sig: Signature, issuerCreated: number, now: number, policy: Policy): string | undefined {
  if (policy.ignoreTimeConflict) return undefined;
  if (issuerCreated > sig.created) return 'signature older than the key that made it';
  if (issuerCreated > now) return 'signing key created in the future';
  return undefined;
}
