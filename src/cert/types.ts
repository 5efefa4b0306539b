/**
 * The evaluated certificate: what in a certificate is valid at a reference time, and
 * every third-party certification with what the web of trust needs. Built by
 * evaluate.ts; read by the trust engine, the SSH tools and the keyserver.
 */
import type { Cert, SubkeyComponent, UserComponent } from '../openpgp/cert.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import type { RevocationKey, Signature } from '../openpgp/signature.js';

/** State of a key, user ID or subkey at the reference time. */
export type Status = 'valid' | 'expired' | 'revoked' | 'invalid';

export interface Revocation {
  /** Unix seconds. */
  time: number;
  /** Hard revocations (compromise, no or unknown reason) are retroactive. */
  hard: boolean;
  reason?: { code: number; text: string };
  /** Fingerprint of the key that made it: the key itself or a designated revoker. */
  by: string;
}

export interface PrimaryState {
  key: KeyPacket;
  status: Status;
  /** Unix seconds; undefined when the key never expires. */
  expires?: number;
  revocation?: Revocation;
  /** Key flags from the newest binding self-signature (0 if none gave any). */
  flags: number;
  /** Designated revokers named by valid self-signatures. */
  revokers: RevocationKey[];
  /** Why the key is invalid, when it is. */
  problems: string[];
}

/** How a signature fared: `good` is the only usable outcome. */
export type SigOutcome =
  | 'good'
  /** Cryptographically wrong, or the digest prefix does not match. */
  | 'bad'
  /** The issuer is not in the keyring, so it could not be checked. */
  | 'no-key'
  /** Algorithm or version we cannot verify. */
  | 'unsupported'
  /** Verifies, but policy rejects it (see `policyReason`). */
  | 'rejected'
  /** Not checked yet: verification of third-party certifications can be deferred (see checkCertifications). */
  | 'unchecked';

/** A certification as the trust engine sees it: everything but the signature packet. */
export interface CertificationSummary {
  /** Fingerprint of the issuing primary key, when found in the keyring. */
  issuer?: string;
  /** Issuer key ID as the signature names it (16 hex digits). */
  issuerKeyId: string;
  /** Signature type: 0x10–0x13 certification, 0x30 certification revocation. */
  type: number;
  /** Unix seconds. */
  created: number;
  /** Unix seconds; undefined when the certification never expires. */
  expires?: number;
  /** Trust signature: level (depth) and amount. */
  trust?: { level: number; amount: number };
  /** Regular-expression subpackets (hashed), without their trailing NUL. */
  regexes: string[];
  exportable: boolean;
  revocable: boolean;
  hashAlgorithm: number;
  outcome: SigOutcome;
  /** Human reason for `rejected`, `bad` or `unsupported` (e.g. "SHA-1 certification made after 2019-01-19"). */
  policyReason?: string;
}

export interface Certification extends CertificationSummary {
  sig: Signature;
}

export interface UserIdState {
  component: UserComponent;
  /** The user ID text (UTF-8). */
  text: string;
  /** valid: a good self-signature; expired/revoked per the newest self-signature or revocation; invalid: no good self-signature. */
  status: Status;
  selfSig?: Signature;
  expires?: number;
  revocation?: Revocation;
  primary: boolean;
  /** Third-party certifications and certification revocations on this user ID, in packet order. */
  certifications: Certification[];
  /** Digests approved by the newest valid attestation (0x16), hex; empty when none. */
  attested: string[];
}

export interface SubkeyState {
  /** For signing-capable subkeys: whether a valid primary-key binding (back-signature) exists. */
  backsig?: boolean;
  component: SubkeyComponent;
  key: KeyPacket;
  status: Status;
  binding?: Signature;
  flags: number;
  expires?: number;
  revocation?: Revocation;
  problems: string[];
}

export interface EvaluatedCert {
  cert: Cert;
  fpr: string;
  keyId: string;
  /** The reference time, Unix seconds. */
  now: number;
  primary: PrimaryState;
  userIds: UserIdState[];
  subkeys: SubkeyState[];
}
