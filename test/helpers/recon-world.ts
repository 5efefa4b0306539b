/**
 * Keyservers of ours for the recon tests, in this process: each a store (SQLite in a temp
 * directory, or a PostgreSQL URL), the keyserver service, the HKP server and the recon service
 * on one loopback address of its own (127.0.0.x), with a membership file the test writes.
 * Also a peer that keeps everything it is given (as SKS does), with a call counter on its
 * hashquery, and a logger that keeps its lines. For hostile members: a hashquery server that
 * never finishes its answers (counting how many it holds at once), and a member's session run
 * by script against one of ours (`memberSession`), or its bare Config (`configBytes`).
 */
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UnixTime } from '../../src/clock.js';
import { HkpServer } from '../../src/hkp/server.js';
import { armor } from '../../src/openpgp/armor.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import { configMessage, type LocalConfig } from '../../src/recon/config.js';
import { MemoryPrefixTree } from '../../src/recon/memory-tree.js';
import { runSession, type SessionResult } from '../../src/recon/session.js';
import { encodeMessage } from '../../src/recon/wire.js';
import { zpFromDigest } from '../../src/recon/zp.js';
import { Keyserver } from '../../src/server/keyserver.js';
import { MembershipFile } from '../../src/server/recon-peers.js';
import { ReconService, type ReconServiceOptions } from '../../src/server/recon-service.js';
import { reconStatusSection } from '../../src/server/recon-status.js';
import { reconTreesOf } from '../../src/server/recon-tree.js';
import { openStore, type Store } from '../../src/store/index.js';
import { freePort } from './sks.js';
import { hashqueryAnswerParts } from '../../src/keyserver/hashquery.js';

export class LogLines {
  readonly lines: string[] = [];
  error = (m: string) => void this.lines.push(`E ${m}`);
  info = (m: string) => void this.lines.push(`I ${m}`);
  verbose = (m: string) => void this.lines.push(`V ${m}`);
  debug = (_m: string) => undefined;
  has(re: RegExp): boolean {
    return this.lines.some((l) => re.test(l));
  }
}

export interface OurServerOptions {
  address: string;
  now: UnixTime;
  /** A PostgreSQL URL; default: SQLite in a temp directory. */
  storeUrl?: string;
  recon?: Partial<ReconServiceOptions>;
}

export class OurServer {
  readonly log = new LogLines();
  recon!: ReconService;
  private constructor(
    readonly address: string,
    readonly dir: string,
    readonly store: Store,
    readonly ks: Keyserver,
    readonly hkp: HkpServer,
    readonly httpPort: number,
    readonly reconPort: number,
  ) {}

  static async start(opts: OurServerOptions): Promise<OurServer> {
    const dir = mkdtempSync(join(tmpdir(), 'ms-recon-world-'));
    const store = await openStore(opts.storeUrl ?? join(dir, 'keys.sqlite'));
    const ks = await Keyserver.open(store);
    const hkp = new HkpServer({ ks, now: () => opts.now, uploadRate: false, status: reconStatusSection(store), version: 'test' });
    const { port: httpPort } = await hkp.listen(0, opts.address);
    const s = new OurServer(opts.address, dir, store, ks, hkp, httpPort, await freePort());
    s.setPeers([]);
    const membership = await new MembershipFile(s.peersFile).open();
    s.recon = new ReconService({
      ks,
      trees: reconTreesOf(store),
      membership,
      host: opts.address,
      port: s.reconPort,
      httpPort,
      gossipIntervalMs: 0,
      catchUpIntervalMs: 0,
      log: s.log,
      now: () => opts.now,
      session: { readTimeoutMs: 5_000 },
      configTimeoutMs: 2_000,
      ...opts.recon,
    });
    await s.recon.start();
    return s;
  }

  get peersFile(): string {
    return join(this.dir, 'membership');
  }

  get id(): string {
    return `${this.address} ${this.reconPort}`;
  }

  get base(): string {
    return `http://${this.address}:${this.httpPort}`;
  }

  /** Rewrites the membership file (read again at the next use: a new mtime is forced). */
  setPeers(peers: readonly { id: string }[]): void {
    writeFileSync(this.peersFile, `# test peers\n${peers.map((p) => `${p.id}\n`).join('')}`);
    this.bump += 1;
    const t = new Date(Date.now() + this.bump * 1000);
    utimesSync(this.peersFile, t, t);
  }
  private bump = 0;

  async upload(bytes: Buffer): Promise<string> {
    const res = await fetch(`${this.base}/pks/add`, { method: 'POST', body: new URLSearchParams({ keytext: armor('PUBLIC KEY BLOCK', bytes) }) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`upload to ${this.address}: ${res.status} ${text}`);
    return text;
  }

  /** The certificate served for a fingerprint (HKP get, dearmored); undefined on 404. */
  async get(fpr: string): Promise<Buffer | undefined> {
    const res = await fetch(`${this.base}/pks/lookup?op=get&options=mr&search=0x${fpr}`);
    const text = await res.text();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`get from ${this.address}: ${res.status}`);
    const { dearmor } = await import('../../src/openpgp/armor.js');
    return dearmor(Buffer.from(text));
  }

  /** The stored digests, hex. */
  async digests(): Promise<Set<string>> {
    const out = new Set<string>();
    for await (const d of this.store.digests.digests()) out.add(d.toString('hex'));
    return out;
  }

  async stop(): Promise<void> {
    await this.recon?.close();
    await this.hkp.close(100);
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A peer that keeps every certificate it is given byte for byte, as SKS does: a memory tree of
 * their digests, a recon listener answering every session (as responder), and a hashquery
 * server that counts the digests it is asked for.
 */
export class KeepAllPeer {
  readonly tree = new MemoryPrefixTree();
  readonly byDigest = new Map<string, Buffer>();
  asked: string[] = [];
  private constructor(
    readonly address: string,
    readonly reconPort: number,
    readonly httpPort: number,
    private readonly reconServer: Server,
    private readonly http: HttpServer,
  ) {}

  get id(): string {
    return `${this.address} ${this.reconPort}`;
  }

  static async start(address: string): Promise<KeepAllPeer> {
    const httpPort = await freePort();
    const reconPort = await freePort();
    const config: LocalConfig = { version: '1.1.6', httpPort, bitQuantum: 2, mbar: 5, filters: ['yminsky.dedup', 'yminsky.merge'] };
    let self: KeepAllPeer | undefined;
    const http = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const n = body.readUInt32BE(0);
        const found: Buffer[] = [];
        for (let i = 0; i < n; i++) {
          const hex = body.subarray(8 + i * 20, 24 + i * 20).toString('hex');
          self?.asked.push(hex);
          const c = self?.byDigest.get(hex);
          if (c) found.push(c);
        }
        const parts = hashqueryAnswerParts(found);
        res.writeHead(200, { 'content-type': 'pgp/keys' });
        res.end(Buffer.concat(parts));
      });
    });
    await new Promise<void>((r) => http.listen(httpPort, address, r));
    const recon = createServer((sock: Socket) => {
      if (self) runSession(sock, 'responder', self.tree, config, { readTimeoutMs: 5_000 }).catch(() => {});
    });
    await new Promise<void>((r) => recon.listen(reconPort, address, r));
    self = new KeepAllPeer(address, reconPort, httpPort, recon, http);
    return self;
  }

  /** Keeps these bytes as they are; returns the digest, hex. */
  async add(bytes: Buffer): Promise<string> {
    const d = sksDigest(bytes);
    const hex = d.toString('hex');
    if (!this.byDigest.has(hex)) {
      this.byDigest.set(hex, bytes);
      await this.tree.insert(zpFromDigest(d));
    }
    return hex;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.reconServer.close(() => r()));
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}

/** A member's recon config, announcing `httpPort` (SKS 1.1.6's settings unless told). */
export function memberConfig(httpPort: number, filters: readonly string[] = ['yminsky.dedup', 'yminsky.merge']): LocalConfig {
  return { version: '1.1.6', httpPort, bitQuantum: 2, mbar: 5, filters };
}

/** A member's Config message as it goes on the wire. */
export function configBytes(httpPort: number): Buffer {
  return encodeMessage(configMessage(memberConfig(httpPort)));
}

/** A connection from `from` to `to`'s recon port, open. */
export function reconConnection(from: string, to: OurServer): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: to.address, port: to.reconPort, localAddress: from }, () => resolve(s));
    s.on('error', reject);
  });
}

/** A session a member at `from` runs as initiator against `to`, over its own tree; our answers are what it learns. */
export async function memberSession(from: string, to: OurServer, tree: MemoryPrefixTree, httpPort: number, filters?: readonly string[]): Promise<SessionResult> {
  const sock = await reconConnection(from, to);
  sock.on('error', () => {});
  return runSession(sock, 'initiator', tree, memberConfig(httpPort, filters), { readTimeoutMs: 5_000 });
}

/**
 * A hashquery server that answers 200, sends a few bytes of a large body and then nothing: it
 * holds each request until the client gives up. It listens on one port of several addresses
 * (the members', since we fetch from the address a session came from).
 */
export class StallingHashquery {
  open = 0;
  most = 0;
  total = 0;
  private constructor(
    readonly address: string,
    readonly port: number,
    private readonly http: HttpServer[],
  ) {}

  static async start(addresses: readonly string[]): Promise<StallingHashquery> {
    const port = await freePort();
    let self: StallingHashquery | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      if (!self) return;
      const s = self;
      s.open++;
      s.total++;
      s.most = Math.max(s.most, s.open);
      req.resume();
      res.on('close', () => s.open--);
      res.writeHead(200, { 'content-type': 'pgp/keys', 'content-length': '60000' });
      res.write(Buffer.alloc(100));
    };
    const servers = addresses.map(() => createHttpServer(handler));
    await Promise.all(servers.map((h, i) => new Promise<void>((r) => h.listen(port, addresses[i], r))));
    self = new StallingHashquery(addresses[0], port, servers);
    return self;
  }

  async stop(): Promise<void> {
    for (const h of this.http) {
      h.closeAllConnections();
      await new Promise<void>((r) => h.close(() => r()));
    }
  }
}
