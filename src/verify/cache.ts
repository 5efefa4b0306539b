/**
 * The verification cache: remembers the outcome of each signature check, keyed by a
 * digest over the issuer's fingerprint, the exact digest that was signed and the
 * signature packet. Keying on the signed digest (not only the signature) means a
 * valid signature copied onto another user ID or key never hits the cache.
 */
import { hash } from 'node:crypto';
import type { KeyPacket } from '../openpgp/key-packet.js';
import type { Packet } from '../openpgp/packets.js';
import type { Signature } from '../openpgp/signature.js';
import type { SigCheck } from './verifier.js';

export interface VerificationCache {
  /** Outcomes already known, by hex key. */
  lookup(keys: Buffer[]): Promise<Map<string, boolean>>;
  record(entries: Array<[Buffer, boolean]>): Promise<void>;
  /** Outcomes of checks made on these very parsed objects, asked before anything is hashed (bulk import). */
  readonly memo?: CheckMemo;
}

/**
 * Outcomes by the objects checked: the parsed signature, the issuer's key, the primary key and
 * the component (user ID, attribute or subkey packet). Parsed packets are never modified, so a
 * check of the same objects has the same outcome. Bulk import verifies a batch ahead and then
 * runs the same parsed certificates through the policy: this answers the policy's checks without
 * building and hashing the signed data again. Entries go with the signatures (a WeakMap).
 */
export class CheckMemo {
  private readonly bySig = new WeakMap<Signature, Array<{ issuer: KeyPacket; primary: KeyPacket; component: Packet | KeyPacket; ok: boolean }>>();

  private static component(check: SigCheck): Packet | KeyPacket {
    const t = check.target;
    return t.kind === 'user' ? t.user : t.kind === 'subkey' ? t.subkey : t.primary;
  }

  get(check: SigCheck): boolean | undefined {
    const list = this.bySig.get(check.sig);
    if (!list) return undefined;
    const component = CheckMemo.component(check);
    for (const e of list) if (e.issuer === check.issuer && e.primary === check.target.primary && e.component === component) return e.ok;
    return undefined;
  }

  set(check: SigCheck, ok: boolean): void {
    const entry = { issuer: check.issuer, primary: check.target.primary, component: CheckMemo.component(check), ok };
    const list = this.bySig.get(check.sig);
    if (list) list.push(entry);
    else this.bySig.set(check.sig, [entry]);
  }
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
