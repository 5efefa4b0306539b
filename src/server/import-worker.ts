/**
 * A bulk-import worker thread (bulk.ts): verifies the signatures of a batch of certificates
 * that can be checked without the store: self-signatures, and certifications by keys of the
 * file being loaded (sent once per file). It writes nothing; it hands back the verification
 * outcomes (cache keys, as src/verify/cache.ts), which the writing thread then finds in
 * memory instead of verifying again.
 */
import { parentPort } from 'node:worker_threads';
import { readCerts } from '../openpgp/cert.js';
import { parseKeyPacket } from '../openpgp/key-packet.js';
import { readPacket } from '../openpgp/packets.js';
import { MemoryVerificationCache } from '../verify/cache.js';
import { addIssuerKey, checkSignatures, type IssuerKeys, issuerKeys, issuersIn } from '../verify/sanitize.js';
import { type SigCheck, Verifier } from '../verify/verifier.js';
import { cleanIncoming } from './ingest.js';

/** Messages from the writing thread. */
export type WorkerRequest = { kind: 'issuers'; keys: Uint8Array } | { kind: 'batch'; id: number; certs: Uint8Array };

/** Answers: cache keys (32 bytes each, concatenated) and their outcomes (1 good, 0 bad). */
export interface WorkerReply {
  id: number;
  keys: Uint8Array;
  good: Uint8Array;
  error?: string;
}

/** Key packets, concatenated, as issuers. */
function issuersFrom(bytes: Buffer): IssuerKeys {
  const k = issuerKeys();
  for (let pos = 0; pos < bytes.length; ) {
    const p = readPacket(bytes, pos);
    pos = p.end;
    try {
      addIssuerKey(k, parseKeyPacket(p));
    } catch {
      // A key that does not parse issues nothing.
    }
  }
  return k;
}

/** Records every outcome, for sending back. */
class Recorder extends MemoryVerificationCache {
  readonly keys: Buffer[] = [];
  readonly good: number[] = [];
  override async record(entries: Array<[Buffer, boolean]>): Promise<void> {
    for (const [k, v] of entries) {
      this.keys.push(k);
      this.good.push(v ? 1 : 0);
    }
    await super.record(entries);
  }
}

let fileIssuers: IssuerKeys = issuerKeys();

/**
 * Verifies what can be verified of these certificates (binary, concatenated) with their own
 * keys and `issuers`; returns the outcomes as cache keys (32 bytes each) and 1/0. Checks are
 * gathered for the whole batch and verified together, so node:crypto runs them on libuv's
 * thread pool. Also used on the writing thread when there are no workers.
 */
export async function verifyBatch(bytes: Buffer, issuers: IssuerKeys): Promise<{ keys: Buffer; good: Uint8Array }> {
  const recorder = new Recorder();
  const verifier = new Verifier({ cache: recorder });
  const { certs } = readCerts(bytes);
  // Each certificate's checks are collected by a verifier that only records them; one real run verifies them all.
  const pending: SigCheck[] = [];
  const collect = {
    verify: async (checks: SigCheck[]) => {
      for (const c of checks) pending.push(c);
      return checks.map(() => false);
    },
  };
  for (const raw of certs) {
    const cert = cleanIncoming(raw, {});
    await checkSignatures(cert, { verifier: collect, certifiers: (sig) => issuersIn(issuers, sig).filter((k) => k.fpr !== cert.primary.fpr) });
  }
  if (pending.length > 0) await verifier.verify(pending);
  return { keys: Buffer.concat(recorder.keys), good: Uint8Array.from(recorder.good) };
}

async function batch(bytes: Buffer): Promise<{ keys: Buffer; good: Uint8Array }> {
  return verifyBatch(bytes, fileIssuers);
}

parentPort?.on('message', (msg: WorkerRequest) => {
  if (msg.kind === 'issuers') {
    fileIssuers = issuersFrom(Buffer.from(msg.keys.buffer, msg.keys.byteOffset, msg.keys.byteLength));
    return;
  }
  batch(Buffer.from(msg.certs.buffer, msg.certs.byteOffset, msg.certs.byteLength)).then(
    (r) => parentPort?.postMessage({ id: msg.id, keys: r.keys, good: r.good } satisfies WorkerReply),
    (err: unknown) => parentPort?.postMessage({ id: msg.id, keys: new Uint8Array(0), good: new Uint8Array(0), error: String((err as Error)?.message ?? err) } satisfies WorkerReply),
  );
});
