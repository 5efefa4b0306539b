/**
 * A bulk-import worker thread (bulk.ts): verifies signatures the writing thread has made ready
 * (signed data or digest, signature value, issuer key), synchronously, one chunk per message,
 * and answers 1 (good) or 0 for each. It parses nothing and knows no OpenPGP: the writing
 * thread parses each certificate once and hashes each check once, and the worker's share is
 * the cryptography alone, without a thread-pool hand-off and a callback per signature.
 *
 * A chunk is one transferred buffer: six int32 per check (key, hash and mode, input offset
 * and length, value offset and length), then the bytes. Issuer keys (`KeyObject`s, which
 * cross threads by cloning) are sent once each, with the first chunk that needs them.
 */
import { type KeyObject, verify } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

/** Int32 fields per check in a chunk's table. */
export const FIELDS = 6;

/** A chunk from the writing thread. */
export interface VerifyRequest {
  id: number;
  /** Keys not sent before, by their number. */
  keys: Array<[number, KeyObject]>;
  /** Hash names of this chunk, by number. */
  hashes: string[];
  /** The table (FIELDS int32 per check), then the bytes it points into. */
  buf: ArrayBuffer;
  n: number;
}

/** Outcomes in order: 1 good, 0 bad or refused. */
export interface VerifyReply {
  id: number;
  ok: Uint8Array;
  error?: string;
}

const keys: KeyObject[] = [];

/** Verifies a chunk; a check OpenSSL refuses (malformed value) is bad, as `verifyPrepared` says. */
export function verifyChunk(msg: VerifyRequest, known: KeyObject[] = keys): Uint8Array {
  for (const [k, key] of msg.keys) known[k] = key;
  const table = new Int32Array(msg.buf, 0, FIELDS * msg.n);
  const bytes = Buffer.from(msg.buf);
  const ok = new Uint8Array(msg.n);
  for (let i = 0; i < msg.n; i++) {
    const f = FIELDS * i;
    const digest = (table[f + 1] & 1) === 1;
    const input = bytes.subarray(table[f + 2], table[f + 2] + table[f + 3]);
    const value = bytes.subarray(table[f + 4], table[f + 4] + table[f + 5]);
    try {
      ok[i] = verify(digest ? null : msg.hashes[table[f + 1] >> 1], input, known[table[f]], value) ? 1 : 0;
    } catch {
      ok[i] = 0;
    }
  }
  return ok;
}

/** What bulk.ts starts its workers with: this module is also imported by the writing thread, which may itself be a worker. */
export const WORKER_DATA = 'monkeysphere-import-verify';

if (workerData === WORKER_DATA) {
  parentPort?.on('message', (msg: VerifyRequest) => {
    let reply: VerifyReply;
    try {
      reply = { id: msg.id, ok: verifyChunk(msg) };
    } catch (err) {
      reply = { id: msg.id, ok: new Uint8Array(0), error: String((err as Error)?.message ?? err) };
    }
    parentPort?.postMessage(reply, [reply.ok.buffer as ArrayBuffer]);
  });
}
