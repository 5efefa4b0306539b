/**
 * Bulk import and dump for `monkeysphere-keyserver import|dump`.
 *
 * `importFiles` loads keyrings (binary or armored) and SKS or Hockeypuck dump files (binary
 * certificates, concatenated) through the keyserver's ingest policy, every signature verified:
 * the calling thread parses each batch once and makes ready what needs no store (self-signatures,
 * and certifications by keys of the same file), worker threads (or libuv's thread pool) verify it
 * while the calling thread runs the batch before through the policy (verifying the rest) and
 * writes it; it remembers in the store's meta how far it got in each file, so a run stopped
 * half-way resumes.
 *
 * `dumpStore` writes the store out as numbered `*.pgp` files of concatenated binary
 * certificates, exactly the bytes served, which `sks build` / `sks load` and `hockeypuck-load`
 * read.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { UnixTime } from '../clock.js';
import { makeDirectories } from '../files/mkdir.js';
import { dearmor, isBinary } from '../openpgp/armor.js';
import { HASH_NAMES } from '../openpgp/algorithms.js';
import { type Cert, readCerts, type SigEntry } from '../openpgp/cert.js';
import { parseKeyPacket } from '../openpgp/key-packet.js';
import { readPacket, Tag } from '../openpgp/packets.js';
import type { SigTarget } from '../openpgp/signed-data.js';
import { SigType } from '../openpgp/signature.js';
import type { Store } from '../store/types.js';
import { CheckMemo } from '../verify/cache.js';
import { addIssuerKey, canVerifyWith, type IssuerKeys, isCertification, issuedBy, issuerKeys, issuersIn } from '../verify/sanitize.js';
import { type CheckRunner, type SigCheck, Verifier } from '../verify/verifier.js';
import { dumpIo, importIo, unparseable } from './errors.js';
import { FIELDS, type VerifyReply, type VerifyRequest, verifyChunk, WORKER_DATA } from './import-worker.js';
import { yieldToLoop } from './ingest.js';
import { type CertOutcome, type Keyserver, SubmitCache } from './keyserver.js';

export interface ImportOptions {
  /** The time the certificates are stored at. */
  now: UnixTime;
  /** Called after each batch is stored: certificates done and in all, over every file. */
  onProgress?: (done: number, total: number) => void;
  /** Skip, in each file, the certificates a previous run already stored (the file unchanged since). */
  resume?: boolean;
  /** Verifying worker threads (default: one less than the CPUs; 0: verified on libuv's thread pool). */
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
  issuers: IssuerKeys;
}

function scan(bytes: Buffer): FileScan {
  const ranges: Array<[number, number]> = [];
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
      try {
        addIssuerKey(issuers, parseKeyPacket(p));
      } catch {
        // Not a key we read: it issues nothing; readCerts will skip the certificate.
      }
    }
    pos = p.end;
  }
  if (start >= 0) ranges.push([start, pos]);
  return { ranges, issuers };
}

const progressKey = (file: string) => `keyserver.import.${createHash('sha256').update(resolve(file)).digest('hex').slice(0, 32)}`;

interface Progress {
  file: string;
  size: number;
  mtime: number;
  done: number;
}

/** The verification cache of one batch: what was verified ahead is found by the parsed objects (`CheckMemo`), nothing hashed again. */
class ImportCache extends SubmitCache {
  constructor(
    store: Store,
    readonly memo: CheckMemo,
  ) {
    super(store);
  }
}

/**
 * Under test the sources are TypeScript run by tsx, whose loader hooks Node 20 does not give a
 * worker: the worker registers them itself, then imports its entry.
 */
function tsEntry(href: string): string {
  const api = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(href)}); });`;
}

/** A chunk of ready checks, packed (copied out of the verifier's reused memory) and waiting for a thread. */
interface Chunk {
  /** The table (FIELDS int32 per check, keys numbered by the pool) and the bytes. */
  buf: ArrayBuffer;
  n: number;
  hashes: string[];
  resolve: (ok: Uint8Array) => void;
  reject: (e: Error) => void;
}

/**
 * Chunks a worker holds at a time: enough for about half a second of RSA-4096, since the
 * writing thread, busy with the policy and the store, hands out more only between batches.
 */
const PER_WORKER = 8;

/**
 * Worker threads verifying ready checks (a `CheckRunner`). Chunks wait in one queue; each
 * worker has at most PER_WORKER at a time, and the writing thread, when it would otherwise
 * wait for a batch to be verified, verifies queued chunks itself (`help`).
 */
class Pool {
  private readonly workers: Array<{ worker: Worker; sent: Set<number>; busy: number }> = [];
  private readonly queue: Chunk[] = [];
  private readonly pending = new Map<number, Chunk>();
  /** Issuer keys by fingerprint, numbered for the tables. */
  private readonly keyIds = new Map<string, number>();
  private readonly keys: KeyObject[] = [];
  private next = 0;
  private failed: Error | undefined;

  constructor(n: number) {
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    // A command bundle (dist/bundle/*.cjs) starts the worker that tsc compiled into dist/server/.
    const base = import.meta.url.endsWith('.cjs') ? new URL('../server/', import.meta.url) : new URL('./', import.meta.url);
    for (let i = 0; i < n; i++) {
      const url = new URL(`import-worker${ext}`, base);
      // A .ts entry (under test) is loaded by a dynamic import once the worker's loader hooks are in place.
      const worker = ext === '.ts' ? new Worker(tsEntry(url.href), { eval: true, workerData: WORKER_DATA }) : new Worker(url, { workerData: WORKER_DATA });
      const slot = { worker, sent: new Set<number>(), busy: 0 };
      worker.on('message', (r: VerifyReply) => {
        const c = this.pending.get(r.id);
        this.pending.delete(r.id);
        slot.busy--;
        if (r.error) c?.reject(new Error(r.error));
        else c?.resolve(r.ok);
        this.dispatch();
      });
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`a verifying worker thread exited (code ${code})`));
      });
      this.workers.push(slot);
    }
  }

  /** Packs the chunk into one buffer (copying it: the inputs are reused) and queues it. */
  readonly run: CheckRunner = (checks) => {
    if (this.failed) return Promise.reject(this.failed);
    const hashes: string[] = [];
    let size = 4 * FIELDS * checks.length;
    for (const c of checks) size += c.input.length + c.value.length;
    const buf = new ArrayBuffer(size);
    const table = new Int32Array(buf, 0, FIELDS * checks.length);
    const bytes = Buffer.from(buf);
    let o = 4 * FIELDS * checks.length;
    checks.forEach((c, i) => {
      let k = this.keyIds.get(c.issuer.fpr);
      if (k === undefined) {
        k = this.keys.push(c.keyObject) - 1;
        this.keyIds.set(c.issuer.fpr, k);
      }
      let h = hashes.indexOf(c.hash);
      if (h < 0) h = hashes.push(c.hash) - 1;
      const f = FIELDS * i;
      table[f] = k;
      table[f + 1] = (h << 1) | (c.mode === 'digest' ? 1 : 0);
      table[f + 2] = o;
      table[f + 3] = c.input.length;
      o += c.input.copy(bytes, o);
      table[f + 4] = o;
      table[f + 5] = c.value.length;
      o += c.value.copy(bytes, o);
    });
    return new Promise<boolean[]>((resolve, reject) => {
      this.queue.push({ buf, n: checks.length, hashes, resolve: (ok) => resolve(Array.from(ok, (x) => x === 1)), reject });
      this.dispatch();
    });
  };

  private closing = false;

  /** A worker failed: every chunk waiting fails, and so does the import. */
  private fail(err: Error): void {
    this.failed ??= err;
    for (const c of [...this.pending.values(), ...this.queue.splice(0)]) c.reject(err);
    this.pending.clear();
  }

  /** Hands queued chunks to workers with fewer than PER_WORKER. */
  private dispatch(): void {
    for (const slot of this.workers) {
      while (slot.busy < PER_WORKER && this.queue.length > 0 && !this.failed) {
        const c = this.queue.shift()!;
        const id = this.next++;
        // The keys this worker has not been sent yet.
        const keys: Array<[number, KeyObject]> = [];
        const table = new Int32Array(c.buf, 0, FIELDS * c.n);
        for (let i = 0; i < c.n; i++) {
          const k = table[FIELDS * i];
          if (!slot.sent.has(k)) {
            slot.sent.add(k);
            keys.push([k, this.keys[k]]);
          }
        }
        this.pending.set(id, c);
        slot.busy++;
        slot.worker.postMessage({ id, keys, hashes: c.hashes, buf: c.buf, n: c.n } satisfies VerifyRequest, [c.buf]);
      }
    }
  }

  /** Verifies the oldest queued chunk on this thread; false when none is queued. */
  help(): boolean {
    const c = this.queue.shift();
    if (!c) return false;
    try {
      c.resolve(verifyChunk({ id: -1, keys: [], hashes: c.hashes, buf: c.buf, n: c.n }, this.keys));
    } catch (err) {
      c.reject(err as Error);
    }
    return true;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

/**
 * Verifies ahead, on `verifier`, what of these certificates needs no store: self-signatures,
 * and certifications by `issuers` (the keys of the file being loaded), all at once; the
 * outcomes go to its memo, where the policy finds them (the same parsed objects). Only the
 * checks are listed here, without the policy's bookkeeping: one the policy then makes that
 * is not listed (a designated revoker's revocation, a secret key's certificate, which the
 * policy parses again) is simply verified there.
 */
async function verifyAhead(certs: readonly Cert[], issuers: IssuerKeys, verifier: Verifier): Promise<void> {
  const checks: SigCheck[] = [];
  for (const cert of certs) {
    const primary = cert.primary;
    if (cert.secret || cert.subkeys.some((s) => s.key.packet.tag === Tag.SecretSubkey)) continue;
    const add = (sigs: SigEntry[], target: SigTarget, user: boolean) => {
      for (const { sig } of sigs) {
        if (!sig?.exportable || !HASH_NAMES[sig.hashAlgorithm]) continue;
        if (issuedBy(sig, primary)) {
          if (canVerifyWith(primary)) checks.push({ issuer: primary, sig, target });
        } else if (user && (isCertification(sig.type) || sig.type === SigType.CertRevocation)) {
          for (const issuer of issuersIn(issuers, sig)) if (issuer.fpr !== primary.fpr && canVerifyWith(issuer)) checks.push({ issuer, sig, target });
        }
      }
    };
    add(cert.directSigs, { kind: 'key', primary }, false);
    for (const u of cert.users) add(u.signatures, { kind: 'user', primary, user: u.packet }, true);
    for (const sub of cert.subkeys) add(sub.signatures, { kind: 'subkey', primary, subkey: sub.key }, false);
  }
  if (checks.length > 0) await verifier.verify(checks);
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
  // A single file is read and framed once, and kept for its turn.
  let only: ReturnType<typeof load> | undefined;
  for (const file of files) {
    const loaded = load(file);
    if (files.length === 1) only = loaded;
    const { scan: s, progress } = loaded;
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
  // One verifier for the run (issuer keys built once); what it verifies ahead is found by the policy in its memo.
  const memo = new CheckMemo();
  const verifier = new Verifier({ memo, runner: pool?.run });
  let done = 0;
  try {
    for (const { file, from, progress: planned } of plan) {
      const { bytes, scan: s, progress } = only ?? load(file);
      only = undefined;
      if (progress.size !== planned.size || progress.mtime !== planned.mtime || s.ranges.length < from) throw importIo(file, new Error('the file changed during the import'));
      report.files.push({ file, certs: s.ranges.length - from, resumedAt: from });
      const batches: Array<[number, number]> = [];
      for (let i = from; i < s.ranges.length; i += batchSize) batches.push([i, Math.min(s.ranges.length, i + batchSize)]);
      const slice = ([a, b]: [number, number]) => bytes.subarray(s.ranges[a][0], s.ranges[b - 1][1]);
      // Each batch is parsed once and verified ahead (on the workers, or libuv's thread pool) while this thread writes the one before.
      const ahead = pool ? 2 : 1;
      const parsed: Array<readonly Cert[] | undefined> = [];
      const inFlight: Array<Promise<void> | undefined> = [];
      const send = (k: number) => {
        if (k >= batches.length) return;
        parsed[k] = readCerts(slice(batches[k])).certs;
        const verified = verifyAhead(parsed[k]!, s.issuers, verifier);
        // Awaited in its turn; a failure after an earlier batch failed is not reported twice.
        verified.catch(() => undefined);
        inFlight[k] = verified;
      };
      for (let k = 0; k < Math.min(ahead, batches.length); k++) send(k);
      for (let k = 0; k < batches.length; k++) {
        // While the batch is still being verified, this thread verifies queued chunks too.
        let verified = false;
        inFlight[k]!.then(
          () => {
            verified = true;
          },
          () => {
            verified = true;
          },
        );
        while (!verified && pool?.help()) await yieldToLoop();
        await inFlight[k];
        inFlight[k] = undefined;
        if (k + ahead < batches.length) send(k + ahead);
        const cache = new ImportCache(ks.store, memo);
        const certs = parsed[k]!;
        parsed[k] = undefined;
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
