/**
 * What the web pages need of the keyserver service (src/server/keyserver.ts): its store and
 * `submit`. Structural, so the pages run over the real `Keyserver` and over test doubles.
 * Types only; the behaviour is the service's.
 */
import type { UnixTime } from '../../clock.js';
import type { Fingerprint } from '../../openpgp/fingerprint.js';
import type { Store } from '../../store/types.js';

export interface SubmitOptions {
  now: UnixTime;
  /** Who is uploading (an address), for per-client rate limits. */
  client?: string;
}

/** What an upload did to one certificate. */
export interface CertOutcome {
  fpr: Fingerprint;
  status: 'inserted' | 'updated' | 'unchanged' | 'blocked' | 'rate-limited';
  userIds: string[];
  kept: { userIds: number; subkeys: number; certifications: number };
  /** Third-party certifications held aside (issuer unknown), not served. */
  held: number;
  /** Held certifications released by this upload (their issuer arrived). */
  released: number;
  /** What was dropped, by reason. */
  dropped: Record<string, number>;
}

export interface SubmitReport {
  certs: CertOutcome[];
}

/** The part of the keyserver service the web pages use. */
export interface WebKeyserver {
  readonly store: Store;
  /**
   * Ingests keys (armored or binary, several at once) under the server's policy.
   * @throws InputError (MS_KS_*) for input that cannot be parsed, is too large, or is rate limited.
   */
  submit(input: Buffer, opts: SubmitOptions): Promise<SubmitReport>;
}
