/**
 * Bulk import and dump for `monkeysphere-keyserver import|dump`.
 *
 * `importFiles` loads keyrings (binary or armored) and SKS or Hockeypuck dump files (binary
 * certificates, concatenated) through the keyserver's ingest policy, every signature verified:
 * worker threads verify what needs no store (self-signatures, and certifications by keys of
 * the same file), the calling thread verifies the rest and writes, one batch after another, and
 * remembers in the store's meta how far it got in each file, so a run stopped half-way resumes.
 *
 * `dumpStore` writes the store out as numbered `*.pgp` files of concatenated binary
 * certificates, exactly the bytes served, which `sks build` / `sks load` and `hockeypuck-load`
 * read.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { UnixTime } from '../clock.js';
import { makeDirectories } from '../files/mkdir.js';
import { dearmor, isBinary } from '../openpgp/armor.js';
import { readCerts } from '../openpgp/cert.js';
import { parseKeyPacket } from '../openpgp/key-packet.js';
import { readPacket, Tag } from '../openpgp/packets.js';
import type { Store } from '../store/types.js';
import { addIssuerKey, type IssuerKeys, issuerKeys } from '../verify/sanitize.js';
import { dumpIo, importIo, unparseable } from './errors.js';
import { verifyBatch, type WorkerReply } from './import-worker.js';
import { type CertOutcome, type Keyserver, SubmitCache } from './keyserver.js';

export interface ImportOptions {
  /** The time the certificates are stored at. */
  now: UnixTime;
  /** Called after each batch is stored: certificates done and in all, over every file. */
  onProgress?: (done: number, total: number) => void;
  /** Skip, in each file, the certificates a previous run already stored (the file unchanged since). */
  resume?: boolean;
  /** Verifying worker threads (default: one less than the CPUs; 0: verified ahead on libuv's thread pool, prepared on this thread). */
  workers?: number;
  /** Certificates per batch (default 200). */
  batchSize?: number;
}

export interface ImportReport {
  files: Array<{ file: string; certs: number; resumedAt: number }>;
  /** Certificates read, over every file (those skipped by resume left out). */
  certs: number;
  /** Certificates by outcome status. */
  status: Partial<Record<CertOutcome['status'], number>>;
  held: number;
  released: number;
  dropped: Record<string, number>;
}

/** Where certificates start and end in a file's packets. */
interface FileScan {
  ranges: Array<[number, number]>;
  /** The primary key packets, concatenated: the file's own issuers. */
  primaries: Buffer;
  issuers: IssuerKeys;
}

function scan(bytes: Buffer): FileScan {
  const ranges: Array<[number, number]> = [];
  const primaries: Buffer[] = [];
  const issuers = issuerKeys();
  let start = -1;
  let pos = 0;
  while (pos < bytes.length) {
    let p: ReturnType<typeof readPacket>;
    try {
      p = readPacket(bytes, pos);
    } catch {
      // A framing error: what came before it is kept (as readCerts does); the rest cannot be trusted.
      break;
    }
    if (p.tag === Tag.PublicKey || p.tag === Tag.SecretKey) {
      if (start >= 0) ranges.push([start, pos]);
      start = pos;
      primaries.push(p.raw);
      try {
        addIssuerKey(issuers, parseKeyPacket(p));
      } catch {
        // Not a key we read: it issues nothing; readCerts will skip the certificate.
      }
    }
    pos = p.end;
  }
  if (start >= 0) ranges.push([start, pos]);
  return { ranges, primaries: Buffer.concat(primaries), issuers };
}

const progressKey = (file: string) => `keyserver.import.${createHash('sha256').update(resolve(file)).digest('hex').slice(0, 32)}`;

interface Progress {
  file: string;
  size: number;
  mtime: number;
  done: number;
}

/**
 * Under test the sources are TypeScript run by tsx, whose loader hooks Node 20 does not give a
 * worker: the worker registers them itself, then imports its entry.
 */
function tsEntry(href: string): string {
  const api = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(href)}); });`;
}

/** A pool of verifying workers, each answering batches in the order given. */
class Pool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private next = 0;

  constructor(n: number) {
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    // A command bundle (dist/bundle/*.cjs) starts the worker that tsc compiled into dist/server/.
    const base = import.meta.url.endsWith('.cjs') ? new URL('../server/', import.meta.url) : new URL('./', import.meta.url);
    for (let i = 0; i < n; i++) {
      const url = new URL(`import-worker${ext}`, base);
      // A .ts entry (under test) is loaded by a dynamic import once the worker's loader hooks are in place.
      const w = ext === '.ts' ? new Worker(tsEntry(url.href), { eval: true }) : new Worker(url);
      w.on('message', (r: WorkerReply) => {
        const p = this.pending.get(r.id);
        this.pending.delete(r.id);
        if (r.error) p?.reject(new Error(r.error));
        else p?.resolve(r);
      });
      w.on('error', (err) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
      this.workers.push(w);
    }
  }

  issuers(keys: Buffer): void {
    for (const w of this.workers) w.postMessage({ kind: 'issuers', keys });
  }

  verify(certs: Buffer): Promise<WorkerReply> {
    const id = this.next++;
    const w = this.workers[id % this.workers.length];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ kind: 'batch', id, certs });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Loads keyrings and SKS/Hockeypuck dump files into the keyserver's store through its ingest
 * policy (every signature verified; certifications by keys of the same file count as by held
 * keys). Files are read whole, one at a time.
 * @throws EnvironmentError (MS_KS_IMPORT_IO) when a file cannot be read;
 *         InputError (MS_KS_UNPARSEABLE) when a file is neither binary OpenPGP nor armor.
 */
export async function importFiles(ks: Keyserver, files: string[], opts: ImportOptions): Promise<ImportReport> {
  const report: ImportReport = { files: [], certs: 0, status: {}, held: 0, released: 0, dropped: {} };
  const batchSize = Math.max(1, opts.batchSize ?? 200);
  const nWorkers = Math.max(0, opts.workers ?? availableParallelism() - 1);
  // Frame every file first, so progress knows the total; only one file is held in memory at a
  // time (each is read again when its turn comes: dump files run to hundreds of MB).
  const load = (file: string): { bytes: Buffer; scan: FileScan; progress: Progress } => {
    let raw: Buffer;
    let st: ReturnType<typeof statSync>;
    try {
      raw = readFileSync(file);
      st = statSync(file);
    } catch (err) {
      throw importIo(file, err);
    }
    let bytes: Buffer;
    try {
      bytes = isBinary(raw) || raw.length === 0 ? raw : dearmor(raw);
    } catch (err) {
      throw unparseable(`${JSON.stringify(file)} is neither binary OpenPGP nor armor: ${(err as Error).message}`, err);
    }
    return { bytes, scan: scan(bytes), progress: { file: resolve(file), size: Number(st.size), mtime: Math.floor(Number(st.mtimeMs)), done: 0 } };
  };
  const plan: Array<{ file: string; from: number; count: number; progress: Progress }> = [];
  let total = 0;
  for (const file of files) {
    const { scan: s, progress } = load(file);
    let from = 0;
    if (opts.resume) {
      const saved = await ks.store.meta.getMeta(progressKey(file));
      if (saved) {
        const p = JSON.parse(saved) as Progress;
        if (p.size === progress.size && p.mtime === progress.mtime) from = Math.min(p.done, s.ranges.length);
      }
    }
    plan.push({ file, from, count: s.ranges.length, progress });
    total += s.ranges.length - from;
  }

  const pool = nWorkers > 0 ? new Pool(nWorkers) : undefined;
  let done = 0;
  try {
    for (const { file, from, progress: planned } of plan) {
      const { bytes, scan: s, progress } = load(file);
      if (progress.size !== planned.size || progress.mtime !== planned.mtime || s.ranges.length < from) throw importIo(file, new Error('the file changed during the import'));
      report.files.push({ file, certs: s.ranges.length - from, resumedAt: from });
      pool?.issuers(s.primaries);
      const batches: Array<[number, number]> = [];
      for (let i = from; i < s.ranges.length; i += batchSize) batches.push([i, Math.min(s.ranges.length, i + batchSize)]);
      const slice = ([a, b]: [number, number]) => bytes.subarray(s.ranges[a][0], s.ranges[b - 1][1]);
      // Keep every worker busy: up to two batches each ahead of the writer (one without workers).
      const ahead = Math.max(1, nWorkers * 2);
      const inFlight: Array<Promise<WorkerReply> | undefined> = [];
      const send = (k: number) => {
        if (k >= batches.length) return;
        // Without worker threads the batch is still verified ahead, on libuv's thread pool, while this thread writes.
        inFlight[k] = pool ? pool.verify(Buffer.from(slice(batches[k]))) : verifyBatch(slice(batches[k]), s.issuers).then((r) => ({ id: k, keys: r.keys, good: r.good }));
      };
      for (let k = 0; k < Math.min(ahead, batches.length); k++) send(k);
      for (let k = 0; k < batches.length; k++) {
        const reply = await inFlight[k];
        inFlight[k] = undefined;
        if (k + ahead < batches.length) send(k + ahead);
        const cache = new SubmitCache(ks.store);
        if (reply) {
          const keys = Buffer.from(reply.keys.buffer, reply.keys.byteOffset, reply.keys.byteLength);
          const entries: Array<[Buffer, boolean]> = [];
          for (let i = 0; i < reply.good.length; i++) entries.push([keys.subarray(i * 32, (i + 1) * 32), reply.good[i] === 1]);
          await cache.preload(entries);
        }
        const { certs } = readCerts(slice(batches[k]));
        const outcomes = await ks.ingestCerts(certs, { now: opts.now, cache, issuers: s.issuers });
        for (const o of outcomes) {
          report.status[o.status] = (report.status[o.status] ?? 0) + 1;
          report.held += o.held;
          report.released += o.released;
          for (const [reason, n] of Object.entries(o.dropped)) report.dropped[reason] = (report.dropped[reason] ?? 0) + n;
        }
        const n = batches[k][1] - batches[k][0];
        report.certs += n;
        done += n;
        progress.done = batches[k][1];
        await ks.store.meta.setMeta(progressKey(file), JSON.stringify(progress));
        opts.onProgress?.(done, total);
      }
      if (batches.length === 0) await ks.store.meta.setMeta(progressKey(file), JSON.stringify({ ...progress, done: s.ranges.length }));
    }
  } finally {
    await pool?.close();
  }
  return report;
}

export interface DumpOptions {
  /** Certificates per file (default 15,000, as hockeypuck-dump writes). */
  certsPerFile?: number;
  /** File name prefix (default `hkp-dump`): files are PREFIX-0000.pgp, PREFIX-0001.pgp, … */
  prefix?: string;
  onProgress?: (done: number) => void;
}

/**
 * Writes every stored certificate (the bytes served, in fingerprint order) into numbered files
 * in `dir` (created if missing), at most `certsPerFile` each; each file is written under a
 * temporary name and renamed when complete. Held-aside certifications are not served, so not
 * dumped. Returns the files written and the number of certificates.
 * @throws EnvironmentError (MS_KS_DUMP_IO) when the directory or a file cannot be written.
 */
export async function dumpStore(store: Store, dir: string, opts: DumpOptions = {}): Promise<{ files: string[]; certs: number }> {
  const per = Math.max(1, opts.certsPerFile ?? 15_000);
  const prefix = opts.prefix ?? 'hkp-dump';
  try {
    makeDirectories(dir);
  } catch (err) {
    throw dumpIo(dir, err);
  }
  const files: string[] = [];
  let chunk: Buffer[] = [];
  let certs = 0;
  const flush = () => {
    if (chunk.length === 0) return;
    const path = join(dir, `${prefix}-${String(files.length).padStart(4, '0')}.pgp`);
    try {
      writeFileSync(`${path}.tmp`, Buffer.concat(chunk));
      renameSync(`${path}.tmp`, path);
    } catch (err) {
      throw dumpIo(path, err);
    }
    files.push(path);
    chunk = [];
  };
  for await (const s of store.certs.all()) {
    chunk.push(s.bytes);
    certs++;
    if (chunk.length >= per) {
      flush();
      opts.onProgress?.(certs);
    }
  }
  flush();
  opts.onProgress?.(certs);
  return { files, certs };
}
