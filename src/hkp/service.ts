/**
 * What the HTTP face needs of the keyserver service (src/server/keyserver.ts): its store for
 * reads, and `submit` for uploads. Written as a structural interface so the routes depend on
 * the contract, not on the ingest policy behind it; `Keyserver` satisfies it.
 */
import type { UnixTime } from '../clock.js';
import type { Fingerprint } from '../openpgp/fingerprint.js';
import type { Store } from '../store/types.js';

export interface SubmitOptions {
  now: UnixTime;
  /** Who uploads (the client address), for the service's per-client limits and its log. */
  client?: string;
}

/** What the service did with one certificate of an upload. */
export interface CertOutcome {
  fpr: Fingerprint;
  status: 'inserted' | 'updated' | 'unchanged' | 'blocked' | 'rate-limited';
  userIds: string[];
  kept: { userIds: number; subkeys: number; certifications: number };
  held: number;
  released: number;
  dropped: Record<string, number>;
}

export interface SubmitReport {
  certs: CertOutcome[];
}

export interface KeyserverService {
  readonly store: Store;
  /**
   * Takes an upload (armored or binary certificates, bare revocations).
   * @throws InputError MS_KS_UNPARSEABLE (→ 422), MS_KS_TOO_LARGE (→ 413); TemporaryError MS_KS_RATE_LIMITED (→ 429)
   */
  submit(input: Buffer, opts: SubmitOptions): Promise<SubmitReport>;
}
