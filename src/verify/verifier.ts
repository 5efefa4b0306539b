/**
 * Batch signature verification. Checks are handled in chunks, pipelined: each chunk is prepared
 * (signed data, digest, left-16 check, cache key), looked up in the cache, and its misses are sent
 * off to verify (on libuv's thread pool through async node:crypto, or on a worker pool) while the
 * next chunk is prepared. Outcomes are recorded in the cache at the end, in one write.
 * Pure cryptography: whether a signature counts (time, policy) is decided in src/cert/.
 */
import { hash as oneShotHash, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import type { KeyPacket } from '../openpgp/key-packet.js';
import type { Packet } from '../openpgp/packets.js';
import { hashName, type SigTarget, targetChunks } from '../openpgp/signed-data.js';
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
  fpr: string;
  mode: VerifyMode;
  hash: string;
  /** Exactly what the signature hashes (RFC 9580 §5.2.4). */
  data: Buffer;
  digest: Buffer;
  value: Buffer;
  /** The cache key: sha256(issuer fingerprint ‖ digest ‖ signature packet body), see cache.ts. */
  key: Buffer;
}

export interface VerifierOptions {
  cache?: VerificationCache;
  /** Verify on these worker threads instead of libuv's thread pool (for machines with more cores than UV_THREADPOOL_SIZE). */
  pool?: VerifyPool;
  /** Chunks with fewer uncached checks than this are verified on the main thread, without hand-off costs (default 64). */
  inlineThreshold?: number;
  /** Checks prepared, looked up and sent off together (default 1024). */
  chunkSize?: number;
  /** Most verifications handed off and not yet answered; preparation waits above it (default 8192). */
  maxInFlight?: number;
}

/** What the component part of the signed data was built for, so it is built once per target. */
interface PrefixEntry {
  primary: KeyPacket;
  /** By signature version class: [v3, v4 and later]. */
  bytes: [Buffer | undefined, Buffer | undefined];
}

export class Verifier {
  readonly stats: VerifierStats = { verified: 0, cached: 0, rejectedEarly: 0 };
  private readonly keyObjects = new Map<string, KeyObject | null>();
  private readonly spkis = new Map<string, Buffer | null>();
  private readonly prefixes = new WeakMap<Packet | KeyPacket, PrefixEntry>();
  private inFlight = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly opts: VerifierOptions = {}) {}

  private spki(key: KeyPacket): Buffer | null {
    let der = this.spkis.get(key.fpr);
    if (der === undefined) {
      try {
        der = keySpki(key);
      } catch {
        // Not a signing algorithm we can hand to OpenSSL: every check by this key fails early.
        der = null;
      }
      this.spkis.set(key.fpr, der);
    }
    return der;
  }

  private keyObject(fpr: string): KeyObject | null {
    let ko = this.keyObjects.get(fpr);
    if (ko === undefined) {
      const der = this.spkis.get(fpr);
      ko = der ? createPublicKey({ key: der, format: 'der', type: 'spki' }) : null;
      this.keyObjects.set(fpr, ko);
    }
    return ko;
  }

  /** Verifies every check; results in input order. */
  async verify(checks: SigCheck[]): Promise<boolean[]> {
    const results: boolean[] = new Array(checks.length).fill(false);
    const chunkSize = Math.max(1, this.opts.chunkSize ?? 1024);
    const inlineThreshold = this.opts.inlineThreshold ?? 64;
    const maxInFlight = Math.max(chunkSize, this.opts.maxInFlight ?? 8192);
    const cache = this.opts.cache;
    const outcomes: Array<[Buffer, boolean]> = [];
    const running: Array<Promise<void>> = [];

    for (let start = 0; start < checks.length; start += chunkSize) {
      const end = Math.min(checks.length, start + chunkSize);
      const prepared: Prepared[] = [];
      for (let i = start; i < end; i++) {
        const p = this.prepare(checks[i], i);
        if (p) prepared.push(p);
        else this.stats.rejectedEarly++;
      }
      let todo = prepared;
      if (cache && prepared.length > 0) {
        const known = await cache.lookup(prepared.map((p) => p.key));
        if (known.size > 0) {
          todo = [];
          for (const p of prepared) {
            const v = known.get(p.key.toString('hex'));
            if (v === undefined) todo.push(p);
            else {
              results[p.index] = v;
              this.stats.cached++;
            }
          }
        }
      }
      if (todo.length === 0) continue;
      this.stats.verified += todo.length;
      const settle = (p: Prepared, ok: boolean) => {
        results[p.index] = ok;
        outcomes.push([p.key, ok]);
      };
      if (todo.length < inlineThreshold) {
        for (const p of todo) {
          const ko = this.keyObject(p.fpr);
          settle(p, ko !== null && verifyPrepared(ko, p.mode, p.hash, p.data, p.digest, p.value));
        }
        continue;
      }
      running.push(this.opts.pool ? this.runOnPool(this.opts.pool, todo, settle) : this.runOnThreadPool(todo, settle));
      if (this.inFlight > maxInFlight) await this.belowInFlight(maxInFlight - chunkSize);
    }
    await Promise.all(running);
    if (cache && outcomes.length > 0) await cache.record(outcomes);
    return results;
  }

  private belowInFlight(limit: number): Promise<void> {
    if (this.inFlight <= limit) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.inFlight <= limit) resolve();
        else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  private done(n: number): void {
    this.inFlight -= n;
    const waiting = this.waiters.splice(0);
    for (const w of waiting) w();
  }

  /** Async node:crypto: each verification runs on libuv's thread pool, none on this thread. */
  private runOnThreadPool(todo: Prepared[], settle: (p: Prepared, ok: boolean) => void): Promise<void> {
    this.inFlight += todo.length;
    return new Promise((resolve) => {
      let left = todo.length;
      const finish = (p: Prepared, ok: boolean) => {
        settle(p, ok);
        this.done(1);
        if (--left === 0) resolve();
      };
      for (const p of todo) {
        const ko = this.keyObject(p.fpr);
        if (ko === null) {
          finish(p, false);
          continue;
        }
        const callback = (err: Error | null, ok: boolean) => finish(p, err === null && ok);
        try {
          if (p.mode === 'digest') cryptoVerify(null, p.digest, ko, p.value, callback);
          else cryptoVerify(p.hash, p.data, ko, p.value, callback);
        } catch {
          // Rejected before the job started (a malformed value): a bad signature, as verifyPrepared says.
          finish(p, false);
        }
      }
    });
  }

  private async runOnPool(pool: VerifyPool, todo: Prepared[], settle: (p: Prepared, ok: boolean) => void): Promise<void> {
    this.inFlight += todo.length;
    try {
      const jobs: WorkerJob[] = todo.map((p) => ({
        issuer: p.fpr,
        mode: p.mode,
        hash: p.hash,
        data: p.mode === 'digest' ? p.digest : p.data,
        digest: p.digest,
        value: p.value,
      }));
      const out = await pool.run(jobs, (fpr) => this.spkis.get(fpr)!, todo.length);
      todo.forEach((p, i) => {
        settle(p, out[i] === 1);
      });
    } finally {
      this.done(todo.length);
    }
  }

  /** The bytes a signature hashes, built from a per-target prefix so key and user ID are copied, not re-assembled. */
  private signedData(sig: Signature, target: SigTarget): Buffer {
    const component: Packet | KeyPacket = target.kind === 'user' ? target.user : target.kind === 'subkey' ? target.subkey : target.primary;
    let entry = this.prefixes.get(component);
    if (entry === undefined || entry.primary !== target.primary) {
      entry = { primary: target.primary, bytes: [undefined, undefined] };
      this.prefixes.set(component, entry);
    }
    const slot = sig.version < 4 ? 0 : 1;
    let prefix = entry.bytes[slot];
    if (prefix === undefined) {
      prefix = Buffer.concat(targetChunks(target, sig.version));
      entry.bytes[slot] = prefix;
    }
    const salt = sig.version === 6 && sig.salt ? sig.salt : undefined;
    const hp = sig.hashedPart;
    const trailer = sig.version >= 4 ? 6 : 0;
    const data = Buffer.allocUnsafe((salt?.length ?? 0) + prefix.length + hp.length + trailer);
    let o = 0;
    if (salt) o += salt.copy(data, o);
    o += prefix.copy(data, o);
    o += hp.copy(data, o);
    if (trailer) {
      data[o++] = sig.version;
      data[o++] = 0xff;
      data.writeUInt32BE(hp.length, o);
    }
    return data;
  }

  private prepare(check: SigCheck, index: number): Prepared | null {
    const { issuer, sig, target } = check;
    if (sig.pubAlgorithm !== issuer.algorithm && !(issuer.algorithm === 1 && sig.pubAlgorithm === 3)) return null;
    let hash: string;
    let node: { value: Buffer; mode: VerifyMode };
    let digest: Buffer;
    const data = this.signedData(sig, target);
    try {
      hash = hashName(sig);
      node = nodeSignature(issuer, sig);
      digest = oneShotHash(hash, data, 'buffer');
    } catch {
      return null;
    }
    if (!this.spki(issuer)) return null;
    if (digest[0] !== sig.left16[0] || digest[1] !== sig.left16[1]) return null;
    return { index, fpr: issuer.fpr, hash, data, digest, mode: node.mode, value: node.value, key: cacheKey(issuer.fingerprint, digest, sig.packet.body) };
  }
}
