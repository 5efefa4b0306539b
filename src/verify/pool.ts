/**
 * A small pool of worker threads that verify prepared signatures in parallel.
 * Started lazily, only for batches big enough to pay for the threads' start-up.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { VerifyMode } from '../openpgp/verify.js';

export interface WorkerJob {
  issuer: string;
  mode: VerifyMode;
  hash: string;
  data: Uint8Array;
  digest: Uint8Array;
  value: Uint8Array;
}

export interface WorkerBatch {
  id: number;
  /** SPKI DER of every issuer the batch needs, keyed by fingerprint. */
  keys: Array<[string, Uint8Array]>;
  jobs: WorkerJob[];
}

const fromSource = import.meta.url.endsWith('.ts');
const workerUrl = new URL(`./worker${fromSource ? '.ts' : '.js'}`, import.meta.url);

/** Under tsx (tests, benchmarks from source) the worker must load through the TypeScript loader, which Node 20 applies only to dynamic imports after start-up. */
function spawnWorker(): Worker {
  if (!fromSource) return new Worker(workerUrl);
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(workerUrl.href)}, ${JSON.stringify(import.meta.url)}));`;
  return new Worker(code, { eval: true });
}

export class VerifyPool {
  private readonly workers: Worker[] = [];
  private nextId = 0;
  private readonly pending = new Map<number, (r: Uint8Array) => void>();

  constructor(readonly size: number = Math.max(1, availableParallelism())) {}

  private start(): void {
    if (this.workers.length > 0) return;
    for (let i = 0; i < this.size; i++) {
      const w = spawnWorker();
      w.on('message', (msg: { id: number; results: Uint8Array }) => {
        const resolve = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        // Idle workers must not keep the process alive.
        if (this.pending.size === 0) for (const x of this.workers) x.unref();
        resolve?.(msg.results);
      });
      w.on('error', (err) => {
        for (const [id, resolve] of this.pending) {
          this.pending.delete(id);
          resolve(new Uint8Array(0));
        }
        throw err;
      });
      w.unref();
      this.workers.push(w);
    }
  }

  /** Verifies jobs spread over the workers; results in job order (1 good, 0 bad). */
  async run(jobs: WorkerJob[], keyDer: (fpr: string) => Uint8Array, batchSize = 1024): Promise<Uint8Array> {
    this.start();
    for (const w of this.workers) w.ref();
    const out = new Uint8Array(jobs.length);
    const promises: Promise<void>[] = [];
    for (let start = 0, n = 0; start < jobs.length; start += batchSize, n++) {
      const slice = jobs.slice(start, start + batchSize);
      const issuers = [...new Set(slice.map((j) => j.issuer))];
      const batch: WorkerBatch = { id: this.nextId++, keys: issuers.map((f) => [f, keyDer(f)]), jobs: slice };
      const worker = this.workers[n % this.workers.length];
      promises.push(
        new Promise<Uint8Array>((resolve) => {
          this.pending.set(batch.id, resolve);
          worker.postMessage(batch);
        }).then((r) => {
          if (r.length !== slice.length) throw new Error('verification worker failed');
          out.set(r, start);
        }),
      );
    }
    await Promise.all(promises);
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
