/**
 * Worker thread body for parallel verification: receives batches of prepared
 * signatures, keeps one KeyObject per issuer, answers with one boolean per job.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { verifyPrepared } from '../openpgp/verify.js';
import type { WorkerBatch } from './pool.js';

const keys = new Map<string, KeyObject>();

parentPort?.on('message', (batch: WorkerBatch) => {
  for (const [fpr, der] of batch.keys) {
    if (!keys.has(fpr)) keys.set(fpr, createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }));
  }
  const results = new Uint8Array(batch.jobs.length);
  batch.jobs.forEach((job, i) => {
    const key = keys.get(job.issuer);
    results[i] = key && verifyPrepared(key, job.mode, job.hash, Buffer.from(job.data), Buffer.from(job.digest), Buffer.from(job.value)) ? 1 : 0;
  });
  parentPort?.postMessage({ id: batch.id, results }, [results.buffer]);
});
