/**
 * Batch signature verification: prepares each check (signed data, digest, node
 * signature form), answers what the cache knows, verifies the rest inline or on the
 * worker pool, and records the outcomes. One KeyObject per issuer.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { hashName, type SigTarget, signedChunks, signedDigest } from '../openpgp/signed-data.js';
import type { Signature } from '../openpgp/signature.js';
import { keySpki, nodeSignature, type VerifyMode, verifyPrepared } from '../openpgp/verify.js';
import { cacheKey, type VerificationCache } from './cache.js';
import type { VerifyPool, WorkerJob } from './pool.js';

export interface SigCheck {
  issuer: KeyPacket;
  sig: Signature;
  target: SigTarget;
}

export interface VerifierStats {
  /** Checked cryptographically in this run. */
  verified: number;
  /** Answered by the cache. */
  cached: number;
  /** Failed before any cryptography: digest prefix mismatch, unsupported algorithm. */
  rejectedEarly: number;
}

interface Prepared {
  index: number;
  issuer: KeyPacket;
  mode: VerifyMode;
  hash: string;
  data: Buffer;
  digest: Buffer;
  value: Buffer;
  key: Buffer;
}

export interface VerifierOptions {
  cache?: VerificationCache;
  pool?: VerifyPool;
  /** Below this many uncached checks, verify on the main thread (default 512). */
  inlineThreshold?: number;
}

export class Verifier {
  readonly stats: VerifierStats = { verified: 0, cached: 0, rejectedEarly: 0 };
  private readonly keyObjects = new Map<string, KeyObject | null>();
  private readonly spkis = new Map<string, Buffer>();

  constructor(private readonly opts: VerifierOptions = {}) {}

  private spki(key: KeyPacket): Buffer | null {
    let der = this.spkis.get(key.fpr);
    if (der === undefined) {
      try {
        der = keySpki(key);
      } catch {
        this.keyObjects.set(key.fpr, null);
        return null;
      }
      this.spkis.set(key.fpr, der);
    }
    return der;
  }

  private keyObject(key: KeyPacket): KeyObject | null {
    let ko = this.keyObjects.get(key.fpr);
    if (ko === undefined) {
      const der = this.spki(key);
      ko = der ? createPublicKey({ key: der, format: 'der', type: 'spki' }) : null;
      this.keyObjects.set(key.fpr, ko);
    }
    return ko;
  }

  /** Verifies every check; results in input order. */
  async verify(checks: SigCheck[]): Promise<boolean[]> {
    const results: boolean[] = new Array(checks.length).fill(false);
    const prepared: Prepared[] = [];
    checks.forEach((check, index) => {
      const p = this.prepare(check, index);
      if (p) prepared.push(p);
      else this.stats.rejectedEarly++;
    });
    const known = this.opts.cache ? await this.opts.cache.lookup(prepared.map((p) => p.key)) : new Map<string, boolean>();
    const todo: Prepared[] = [];
    for (const p of prepared) {
      const v = known.get(p.key.toString('hex'));
      if (v === undefined) todo.push(p);
      else {
        results[p.index] = v;
        this.stats.cached++;
      }
    }
    const outcomes = await this.run(todo);
    todo.forEach((p, i) => {
      results[p.index] = outcomes[i];
    });
    this.stats.verified += todo.length;
    if (this.opts.cache && todo.length > 0) await this.opts.cache.record(todo.map((p, i) => [p.key, outcomes[i]]));
    return results;
  }

  private prepare(check: SigCheck, index: number): Prepared | null {
    const { issuer, sig, target } = check;
    if (sig.pubAlgorithm !== issuer.algorithm && !(issuer.algorithm === 1 && sig.pubAlgorithm === 3)) return null;
    let hash: string;
    let node: { value: Buffer; mode: VerifyMode };
    try {
      hash = hashName(sig);
      node = nodeSignature(issuer, sig);
    } catch {
      return null;
    }
    if (!this.spki(issuer)) return null;
    const data = Buffer.concat(signedChunks(sig, target));
    const digest = signedDigest(sig, [data]);
    if (digest[0] !== sig.left16[0] || digest[1] !== sig.left16[1]) return null;
    return { index, issuer, hash, data, digest, mode: node.mode, value: node.value, key: cacheKey(issuer.fingerprint, digest, sig.packet.body) };
  }

  private async run(todo: Prepared[]): Promise<boolean[]> {
    const pool = this.opts.pool;
    if (!pool || todo.length < (this.opts.inlineThreshold ?? 512)) {
      return todo.map((p) => {
        const ko = this.keyObject(p.issuer);
        return ko !== null && verifyPrepared(ko, p.mode, p.hash, p.data, p.digest, p.value);
      });
    }
    // Copy into exact-size buffers: a view into a large keyring would make postMessage clone the whole keyring.
    const own = (b: Buffer) => new Uint8Array(b);
    const jobs: WorkerJob[] = todo.map((p) => ({ issuer: p.issuer.fpr, mode: p.mode, hash: p.hash, data: own(p.data), digest: own(p.digest), value: own(p.value) }));
    const out = await pool.run(jobs, (fpr) => this.spkis.get(fpr)!);
    return Array.from(out, (v) => v === 1);
  }
}
