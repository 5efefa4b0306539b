/**
 * Batch signature verification. Checks are handled in chunks, pipelined: each chunk is prepared
 * (signed data, digest, left-16 check, cache key), looked up in the cache, and its misses are sent
 * off to verify (on libuv's thread pool through async node:crypto) while the
 * next chunk is prepared. Outcomes are recorded in the cache at the end, in one write.
 * Pure cryptography: whether a signature counts (time, policy) is decided in src/cert/.
 */
import { verify as cryptoVerify, type KeyObject, hash as oneShotHash } from 'node:crypto';
import type { KeyPacket } from '../openpgp/key-packet.js';
import type { Packet } from '../openpgp/packets.js';
import { hashName, type SigTarget, targetChunks } from '../openpgp/signed-data.js';
import type { Signature } from '../openpgp/signature.js';
import { nodeSignature, type VerificationKey, type VerifyMode, verificationKey, verifyPrepared } from '../openpgp/verify.js';
import { type CheckMemo, cacheKey, type VerificationCache } from './cache.js';

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
  check: SigCheck;
  hash: string;
  /** Exactly what the signature hashes (RFC 9580 §5.2.4): a view into the call's arena, valid until its next chunk. */
  data: Buffer;
  digest: Buffer;
  /** The cache key: sha256(issuer fingerprint ‖ digest ‖ signature packet body), see cache.ts; empty without a cache. */
  key: Buffer;
}

/**
 * Where one verify() call writes the signed data of a chunk, instead of one allocation per check.
 * Reused from chunk to chunk: by the time the next chunk is prepared, every hand-off of the previous
 * one has copied what it needs (async node:crypto copies its inputs, the worker pool packs them into
 * its own buffer, the main thread has verified).
 */
interface Arena {
  buf: Buffer;
  used: number;
}

const NO_KEY = Buffer.alloc(0);

/** A cache miss ready for OpenSSL. */
interface Job {
  p: Prepared;
  mode: VerifyMode;
  keyObject: KeyObject;
  /** What node:crypto verifies: the signed data, or the digest for EdDSA. */
  input: Buffer;
  value: Buffer;
}

/** A verification ready for OpenSSL, as a `CheckRunner` gets it. */
export interface ReadyCheck {
  issuer: KeyPacket;
  keyObject: KeyObject;
  mode: VerifyMode;
  hash: string;
  /** What node:crypto verifies: the signed data, or the digest for EdDSA. */
  input: Buffer;
  value: Buffer;
}

/**
 * Verifies ready checks elsewhere (bulk import's worker threads), outcomes in order. It must
 * copy what it keeps before it returns: the inputs are views into memory reused at once.
 */
export type CheckRunner = (checks: ReadyCheck[]) => Promise<boolean[]>;

export interface VerifierOptions {
  cache?: VerificationCache;
  /** Where cache misses are verified (default: libuv's thread pool, through async node:crypto). */
  runner?: CheckRunner;
  /** Outcomes by parsed objects, asked first and kept (default: the cache's, if it has one). */
  memo?: CheckMemo;
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
  /** By signature version: [v3, v4, v6] (v3 hashes a user ID without its header; v6 hashes keys after 0x9B). */
  bytes: [Buffer | undefined, Buffer | undefined, Buffer | undefined];
}

/** What evaluation needs of a verifier: checks in, outcomes out (a `Verifier`, or a stand-in that knows the answers). */
export type SignatureVerifier = Pick<Verifier, 'verify'>;

export class Verifier {
  readonly stats: VerifierStats = { verified: 0, cached: 0, rejectedEarly: 0 };
  /** Per issuer fingerprint; null when OpenSSL cannot verify with it. Built only for cache misses. */
  private readonly issuerKeys = new Map<string, VerificationKey | null>();
  private readonly prefixes = new WeakMap<Packet | KeyPacket, PrefixEntry>();
  private inFlight = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly opts: VerifierOptions = {}) {}

  private issuerKey(key: KeyPacket): VerificationKey | null {
    let k = this.issuerKeys.get(key.fpr);
    if (k === undefined) {
      try {
        k = verificationKey(key);
      } catch {
        // Not a signing algorithm OpenSSL has, or material it refuses: every check by this key fails early.
        k = null;
      }
      this.issuerKeys.set(key.fpr, k);
    }
    return k;
  }

  /** Verifies every check; results in input order. */
  async verify(checks: SigCheck[]): Promise<boolean[]> {
    const results: boolean[] = new Array(checks.length).fill(false);
    const chunkSize = Math.max(1, this.opts.chunkSize ?? 1024);
    const inlineThreshold = this.opts.inlineThreshold ?? 64;
    const maxInFlight = Math.max(chunkSize, this.opts.maxInFlight ?? 8192);
    const cache = this.opts.cache;
    const memo = this.opts.memo ?? cache?.memo;
    const outcomes: Array<[Buffer, boolean]> = [];
    const running: Array<Promise<void>> = [];
    const settle = (p: Prepared, ok: boolean) => {
      results[p.index] = ok;
      memo?.set(p.check, ok);
      if (cache) outcomes.push([p.key, ok]);
    };
    const arena: Arena = { buf: Buffer.allocUnsafeSlow(0), used: 0 };

    try {
      for (let start = 0; start < checks.length; start += chunkSize) {
        const end = Math.min(checks.length, start + chunkSize);
        const prepared: Prepared[] = [];
        arena.used = 0;
        for (let i = start; i < end; i++) {
          const known = memo?.get(checks[i]);
          if (known !== undefined) {
            results[i] = known;
            this.stats.cached++;
            continue;
          }
          const p = this.prepare(checks[i], i, arena, cache !== undefined);
          if (p) prepared.push(p);
          else {
            memo?.set(checks[i], false);
            this.stats.rejectedEarly++;
          }
        }
        let misses = prepared;
        if (cache && prepared.length > 0) {
          const known = await cache.lookup(prepared.map((p) => p.key));
          if (known.size > 0) {
            misses = [];
            for (const p of prepared) {
              const v = known.get(p.key.toString('hex'));
              if (v === undefined) misses.push(p);
              else {
                results[p.index] = v;
                memo?.set(p.check, v);
                this.stats.cached++;
              }
            }
          }
        }
        const jobs: Job[] = [];
        for (const p of misses) {
          const job = this.job(p);
          if (job) jobs.push(job);
          else {
            memo?.set(p.check, false);
            this.stats.rejectedEarly++;
          }
        }
        if (jobs.length === 0) continue;
        this.stats.verified += jobs.length;
        if (jobs.length < inlineThreshold) {
          for (const j of jobs) settle(j.p, verifyPrepared(j.keyObject, j.mode, j.p.hash, j.input, j.input, j.value));
          continue;
        }
        running.push(this.opts.runner ? this.runWith(this.opts.runner, jobs, settle) : this.runOnThreadPool(jobs, settle));
        if (this.inFlight > maxInFlight) await this.belowInFlight(maxInFlight - chunkSize);
      }
    } catch (err) {
      // Let hand-offs already made finish before failing, so none settles into a finished call.
      await Promise.allSettled(running);
      throw err;
    }
    await Promise.all(running);
    if (cache && outcomes.length > 0) await cache.record(outcomes);
    return results;
  }

  private belowInFlight(limit: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.inFlight <= limit) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  private done(n: number): void {
    this.inFlight -= n;
    const waiting = this.waiters.splice(0);
    for (const w of waiting) w();
  }

  /** Through the caller's runner: one hand-off for the whole chunk. */
  private runWith(runner: CheckRunner, jobs: Job[], settle: (p: Prepared, ok: boolean) => void): Promise<void> {
    this.inFlight += jobs.length;
    let answer: Promise<boolean[]>;
    try {
      answer = runner(jobs.map((j) => ({ issuer: j.p.check.issuer, keyObject: j.keyObject, mode: j.mode, hash: j.p.hash, input: j.input, value: j.value })));
    } catch (err) {
      answer = Promise.reject(err);
    }
    return answer
      .then((oks) => {
        jobs.forEach((j, i) => {
          settle(j.p, oks[i] === true);
        });
      })
      .finally(() => this.done(jobs.length));
  }

  /** Async node:crypto: each verification runs on libuv's thread pool, none on this thread. */
  private runOnThreadPool(jobs: Job[], settle: (p: Prepared, ok: boolean) => void): Promise<void> {
    this.inFlight += jobs.length;
    return new Promise((resolve) => {
      let left = jobs.length;
      const finish = (p: Prepared, ok: boolean) => {
        settle(p, ok);
        this.done(1);
        if (--left === 0) resolve();
      };
      for (const { p, mode, keyObject, input, value } of jobs) {
        const callback = (err: Error | null, ok: boolean) => finish(p, err === null && ok);
        try {
          // Async crypto jobs copy their inputs at the call, so the arena can be reused at once.
          cryptoVerify(mode === 'digest' ? null : p.hash, input, keyObject, value, callback);
        } catch {
          // Refused before the job started (a malformed value): a bad signature, as verifyPrepared says.
          finish(p, false);
        }
      }
    });
  }

  /** A cache miss made ready for OpenSSL; null when the signature's form or the issuer's key is unusable. */
  private job(p: Prepared): Job | null {
    let node: { value: Buffer; mode: VerifyMode };
    try {
      node = nodeSignature(p.check.issuer, p.check.sig);
    } catch {
      return null;
    }
    const key = this.issuerKey(p.check.issuer);
    if (!key) return null;
    return { p, mode: node.mode, keyObject: key.keyObject, input: node.mode === 'digest' ? p.digest : p.data, value: node.value };
  }

  private prefix(sig: Signature, target: SigTarget): Buffer {
    const component: Packet | KeyPacket = target.kind === 'user' ? target.user : target.kind === 'subkey' ? target.subkey : target.primary;
    let entry = this.prefixes.get(component);
    if (entry === undefined || entry.primary !== target.primary) {
      entry = { primary: target.primary, bytes: [undefined, undefined, undefined] };
      this.prefixes.set(component, entry);
    }
    const slot = sig.version < 4 ? 0 : sig.version === 6 ? 2 : 1;
    let prefix = entry.bytes[slot];
    if (prefix === undefined) {
      prefix = Buffer.concat(targetChunks(target, sig.version));
      entry.bytes[slot] = prefix;
    }
    return prefix;
  }

  /**
   * What the signature hashes (RFC 9580 §5.2.4: salt, key and component, hashed part, trailer),
   * copied from a per-target prefix into the arena.
   */
  private signedData(sig: Signature, target: SigTarget, arena: Arena): Buffer {
    const prefix = this.prefix(sig, target);
    const salt = sig.version === 6 && sig.salt ? sig.salt : undefined;
    const hp = sig.hashedPart;
    const trailer = sig.version >= 4 ? 6 : 0;
    const size = (salt?.length ?? 0) + prefix.length + hp.length + trailer;
    if (arena.used + size > arena.buf.length) {
      // Views already handed out keep the old buffer alive until the chunk is done.
      arena.buf = Buffer.allocUnsafeSlow(Math.max(size, 2 * arena.buf.length, 64 * 1024));
      arena.used = 0;
    }
    const data = arena.buf.subarray(arena.used, arena.used + size);
    arena.used += size;
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

  /** Everything a cache lookup needs (the key only `withKey`); the signature value and the issuer's key are left for misses. */
  private prepare(check: SigCheck, index: number, arena: Arena, withKey: boolean): Prepared | null {
    const { issuer, sig, target } = check;
    if (sig.pubAlgorithm !== issuer.algorithm && !(issuer.algorithm === 1 && sig.pubAlgorithm === 3)) return null;
    let hash: string;
    let digest: Buffer;
    let data: Buffer;
    try {
      hash = hashName(sig);
      data = this.signedData(sig, target, arena);
      digest = oneShotHash(hash, data, 'buffer');
    } catch {
      return null;
    }
    if (digest[0] !== sig.left16[0] || digest[1] !== sig.left16[1]) return null;
    return { index, check, hash, data, digest, key: withKey ? cacheKey(issuer.fingerprint, digest, sig.packet.body) : NO_KEY };
  }
}
