/**
 * A small pool of worker threads that verify prepared signatures in parallel, for machines with
 * more cores than libuv's thread pool (which the Verifier uses by default). Each batch travels as
 * one transferred ArrayBuffer plus an offsets table, and each worker receives an issuer's key once.
 * The worker body is plain JavaScript needing only node:crypto, so it starts fast with or without
 * a TypeScript loader.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { MsError } from '../errors.js';
import type { VerifyMode } from '../openpgp/verify.js';

export interface WorkerJob {
  /** Issuer fingerprint (uppercase hex). */
  issuer: string;
  mode: VerifyMode;
  hash: string;
  /** The signed data (mode 'data'). */
  data: Uint8Array;
  /** The signed digest (mode 'digest'). */
  digest: Uint8Array;
  value: Uint8Array;
}

/** An issuer key as DER: SPKI, or PKCS#1 RSAPublicKey (which OpenSSL loads much faster). */
export type KeyDer = Uint8Array | { der: Uint8Array; type: 'spki' | 'pkcs1' };

/** One message to a worker. `meta` holds, per job: issuer index, hash index (-1: verify the digest itself), input offset and length, value offset and length, all into `arena`. */
export interface WorkerBatch {
  id: number;
  /** Fingerprint, DER and DER type of the issuers this worker has not seen yet. */
  keys: Array<[string, Uint8Array, 'spki' | 'pkcs1']>;
  issuers: string[];
  hashes: string[];
  meta: Int32Array;
  arena: ArrayBuffer;
}

const META = 6;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const keys = new Map();
parentPort.on('message', (b) => {
  for (const [fpr, der, type] of b.keys) {
    if (keys.has(fpr)) continue;
    try {
      keys.set(fpr, createPublicKey({ key: Buffer.from(der.buffer, der.byteOffset, der.byteLength), format: 'der', type }));
    } catch {
      // A key OpenSSL refuses verifies nothing: its jobs stay 0.
    }
  }
  const m = b.meta;
  const arena = Buffer.from(b.arena);
  const n = m.length / ${META};
  const results = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * ${META};
    const key = keys.get(b.issuers[m[o]]);
    if (key === undefined) continue;
    const input = arena.subarray(m[o + 2], m[o + 2] + m[o + 3]);
    const value = arena.subarray(m[o + 4], m[o + 4] + m[o + 5]);
    try {
      results[i] = verify(m[o + 1] < 0 ? null : b.hashes[m[o + 1]], input, key, value) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage({ id: b.id, results }, [results.buffer]);
});
`;

interface Slot {
  worker: Worker;
  /** Issuers whose key this worker already holds. */
  sent: Set<string>;
  /** Jobs sent and not answered. */
  load: number;
  pending: Map<number, { resolve: (r: Uint8Array) => void; reject: (e: Error) => void }>;
}

export class VerifyPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;

  constructor(readonly size: number = Math.max(1, availableParallelism())) {}

  private start(): void {
    if (this.slots.length > 0) return;
    for (let i = 0; i < this.size; i++) {
      const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true }), sent: new Set(), load: 0, pending: new Map() };
      slot.worker.on('message', (msg: { id: number; results: Uint8Array }) => {
        const p = slot.pending.get(msg.id);
        slot.pending.delete(msg.id);
        // Idle workers must not keep the process alive.
        if (slot.pending.size === 0) slot.worker.unref();
        p?.resolve(msg.results);
      });
      const fail = (err: Error) => {
        // A dead worker takes no more batches; the pool starts afresh once none is left.
        const at = this.slots.indexOf(slot);
        if (at >= 0) this.slots.splice(at, 1);
        for (const p of slot.pending.values()) p.reject(new MsError('MS_VERIFY_WORKER', `verification worker failed: ${err.message}`, { cause: err }));
        slot.pending.clear();
      };
      slot.worker.on('error', fail);
      slot.worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
      slot.worker.unref();
      this.slots.push(slot);
    }
  }

  /**
   * Verifies jobs spread over the workers, `batchSize` jobs per message to the least loaded one;
   * results in job order (1 good, 0 bad). `keyDer` gives an issuer's key the first time a worker needs it.
   * @throws MsError (MS_VERIFY_WORKER) when a worker dies.
   */
  async run(jobs: WorkerJob[], keyDer: (fpr: string) => KeyDer, batchSize = 1024): Promise<Uint8Array> {
    this.start();
    const out = new Uint8Array(jobs.length);
    const promises: Promise<void>[] = [];
    const step = Math.max(1, batchSize);
    for (let start = 0; start < jobs.length; start += step) {
      const slice = jobs.slice(start, start + step);
      let slot = this.slots[0];
      for (const s of this.slots) if (s.load < slot.load) slot = s;
      const batch = this.pack(slice, slot, keyDer);
      slot.load += slice.length;
      slot.worker.ref();
      promises.push(
        new Promise<Uint8Array>((resolve, reject) => {
          slot.pending.set(batch.id, { resolve, reject });
          slot.worker.postMessage(batch, [batch.meta.buffer as ArrayBuffer, batch.arena]);
        }).then(
          (r) => {
            slot.load -= slice.length;
            out.set(r, start);
          },
          (err) => {
            slot.load -= slice.length;
            throw err;
          },
        ),
      );
    }
    await Promise.all(promises);
    return out;
  }

  private pack(slice: WorkerJob[], slot: Slot, keyDer: (fpr: string) => KeyDer): WorkerBatch {
    const issuers: string[] = [];
    const issuerIndex = new Map<string, number>();
    const hashes: string[] = [];
    const keys: Array<[string, Uint8Array, 'spki' | 'pkcs1']> = [];
    let size = 0;
    for (const j of slice) size += (j.mode === 'digest' ? j.digest : j.data).length + j.value.length;
    const arena = new ArrayBuffer(size);
    const bytes = new Uint8Array(arena);
    const meta = new Int32Array(slice.length * META);
    let pos = 0;
    slice.forEach((j, i) => {
      let x = issuerIndex.get(j.issuer);
      if (x === undefined) {
        x = issuers.length;
        issuerIndex.set(j.issuer, x);
        issuers.push(j.issuer);
        if (!slot.sent.has(j.issuer)) {
          slot.sent.add(j.issuer);
          const k = keyDer(j.issuer);
          keys.push(k instanceof Uint8Array ? [j.issuer, k, 'spki'] : [j.issuer, k.der, k.type]);
        }
      }
      let h = -1;
      if (j.mode === 'data') {
        h = hashes.indexOf(j.hash);
        if (h < 0) h = hashes.push(j.hash) - 1;
      }
      const input = j.mode === 'digest' ? j.digest : j.data;
      const o = i * META;
      meta[o] = x;
      meta[o + 1] = h;
      meta[o + 2] = pos;
      meta[o + 3] = input.length;
      bytes.set(input, pos);
      pos += input.length;
      meta[o + 4] = pos;
      meta[o + 5] = j.value.length;
      bytes.set(j.value, pos);
      pos += j.value.length;
    });
    return { id: this.nextId++, keys, issuers, hashes, meta, arena };
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    for (const s of slots) s.worker.removeAllListeners('exit');
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
