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
import { Verifier } from '../verify/verifier.js';
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

async function batch(bytes: Buffer): Promise<{ keys: Buffer; good: Uint8Array }> {
  const recorder = new Recorder();
  const verifier = new Verifier({ cache: recorder });
  const { certs } = readCerts(bytes);
  for (const raw of certs) {
    const cert = cleanIncoming(raw, {});
    await checkSignatures(cert, { verifier, certifiers: (sig) => issuersIn(fileIssuers, sig).filter((k) => k.fpr !== cert.primary.fpr) });
  }
  return { keys: Buffer.concat(recorder.keys), good: Uint8Array.from(recorder.good) };
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
