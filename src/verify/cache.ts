/**
 * The verification cache: remembers the outcome of each signature check, keyed by a
 * digest over the issuer's fingerprint, the exact digest that was signed and the
 * signature packet. Keying on the signed digest (not only the signature) means a
 * valid signature copied onto another user ID or key never hits the cache.
 */
import { hash } from 'node:crypto';

export interface VerificationCache {
  /** Outcomes already known, by hex key. */
  lookup(keys: Buffer[]): Promise<Map<string, boolean>>;
  record(entries: Array<[Buffer, boolean]>): Promise<void>;
}

let scratch = Buffer.allocUnsafe(4096);

/** sha256(issuer fingerprint ‖ signed digest ‖ signature packet body). */
export function cacheKey(issuerFingerprint: Buffer, digest: Buffer, sigBody: Buffer): Buffer {
  const size = issuerFingerprint.length + digest.length + sigBody.length;
  // One reused buffer instead of a concatenation per signature: this runs for every check.
  if (size > scratch.length) scratch = Buffer.allocUnsafe(Math.max(size, scratch.length * 2));
  let o = issuerFingerprint.copy(scratch, 0);
  o += digest.copy(scratch, o);
  o += sigBody.copy(scratch, o);
  return hash('sha256', scratch.subarray(0, o), 'buffer');
}

export class MemoryVerificationCache implements VerificationCache {
  private readonly entries = new Map<string, boolean>();

  async lookup(keys: Buffer[]): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    for (const k of keys) {
      const hexKey = k.toString('hex');
      const v = this.entries.get(hexKey);
      if (v !== undefined) out.set(hexKey, v);
    }
    return out;
  }

  async record(entries: Array<[Buffer, boolean]>): Promise<void> {
    for (const [k, v] of entries) this.entries.set(k.toString('hex'), v);
  }

  get size(): number {
    return this.entries.size;
  }
}
