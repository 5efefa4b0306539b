/**
 * The recon membership file, in SKS's format (membership(5) of sks): one peer per line as
 * `host port`, `#` starting a comment, blank lines ignored; hosts are IPv4 or IPv6 addresses
 * (bare or in brackets) or names. SKS rereads the file when it changes, and so does this: every
 * read stats the file and parses it again when its mtime, size or inode moved. A file that no
 * longer parses keeps the last good list (the error is reported once per change).
 * The file must be a regular file (a symlink to one is fine) of at most 1 MiB naming at most
 * 1,000 peers: a FIFO, a device or a directory is refused without being read (opened with
 * O_NONBLOCK, and the opened file checked again), so swapping one in cannot hang us.
 * Incoming recon is accepted only from the peers' addresses (names resolved, as SKS does).
 */
import { lookup } from 'node:dns/promises';
import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { EnvironmentError, InputError } from '../errors.js';

export interface ReconPeer {
  /** As written (brackets taken off an IPv6 address). */
  readonly host: string;
  readonly port: number;
  /** `host port`, the peer's name in logs, stats and metrics. */
  readonly id: string;
  /** The line it came from (1-based). */
  readonly line: number;
}

/** `host port` as it names a peer. */
export function peerId(host: string, port: number): string {
  return `${host} ${port}`;
}

/** Largest membership file read, bytes. */
export const MAX_MEMBERSHIP_BYTES = 1024 * 1024;
/** Most peers a membership file may name. */
export const MAX_PEERS = 1000;

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

/**
 * Parses a membership file. Extra fields after the port are ignored, as SKS ignores them
 * (people put the operator's address and key ID there).
 * @throws InputError MS_RECON_MEMBERSHIP naming the line (`data.line`) that is not `host port`,
 *   or when it names more than `maxPeers` peers.
 */
export function parseMembership(text: string, source = 'membership', maxPeers = MAX_PEERS): ReconPeer[] {
  const out: ReconPeer[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    const fields = content.split(/\s+/);
    const bad = (why: string) =>
      new InputError('MS_RECON_MEMBERSHIP', `${source} line ${line}: ${why}: ${JSON.stringify(raw.slice(0, 200))}`, {
        data: { source, line },
        hints: ['each line is "host port" (an address or name, then the recon port, 11370 by default); # starts a comment'],
      });
    if (fields.length < 2) throw bad('no port');
    let host = fields[0];
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    if (isIP(host) === 0 && !HOSTNAME.test(host)) throw bad(`${JSON.stringify(host)} is not an address or host name`);
    if (!/^\d{1,5}$/.test(fields[1]) || Number(fields[1]) < 1 || Number(fields[1]) > 65535) throw bad(`${JSON.stringify(fields[1])} is not a port`);
    const port = Number(fields[1]);
    const id = peerId(host, port);
    if (seen.has(id)) return;
    if (out.length >= maxPeers) {
      throw new InputError('MS_RECON_MEMBERSHIP', `${source} line ${line}: more than ${maxPeers} peers`, { data: { source, line }, hints: [`a membership file names at most ${maxPeers} peers`] });
    }
    seen.add(id);
    out.push({ host, port, id, line });
  });
  return out;
}

/** An address as compared: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as the IPv4 address, IPv6 in lower case. */
export function normalAddress(addr: string): string {
  const a = addr.toLowerCase();
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return m ? m[1] : a;
}

export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => (await lookup(host, { all: true })).map((r) => r.address);

export interface MembershipOptions {
  /** Called once per failed (re)load with the error; the previous list stays in use. */
  onError?: (err: Error) => void;
  /** Called after each successful (re)load. */
  onLoad?: (peers: readonly ReconPeer[]) => void;
  /** Names are resolved again after this long, ms (default 5 minutes). */
  resolveEveryMs?: number;
  resolver?: Resolver;
}

/** The membership file, reread when it changes. */
export class MembershipFile {
  private list: ReconPeer[] = [];
  private signature: string | undefined;
  private addresses: Map<string, ReconPeer[]> | undefined;
  private resolvedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly opts: MembershipOptions = {},
  ) {}

  /**
   * Reads the file the first time; a bad or missing file fails here rather than at the first gossip.
   * @throws InputError MS_RECON_MEMBERSHIP (a bad line); EnvironmentError MS_RECON_MEMBERSHIP_IO (unreadable).
   */
  async open(): Promise<this> {
    await this.reload(true);
    return this;
  }

  /** The peers, after rereading the file if it changed. */
  async peers(): Promise<readonly ReconPeer[]> {
    this.loading ??= this.reload(false).finally(() => {
      this.loading = undefined;
    });
    await this.loading;
    return this.list;
  }

  /** The peer an incoming connection from `address` belongs to (the first listed with that address), if any. */
  async peerFor(address: string): Promise<ReconPeer | undefined> {
    const peers = await this.peers();
    const now = Date.now();
    if (!this.addresses || now - this.resolvedAt > (this.opts.resolveEveryMs ?? 300_000)) {
      this.addresses = await this.resolveAll(peers);
      this.resolvedAt = now;
    }
    return this.addresses.get(normalAddress(address))?.[0];
  }

  private async resolveAll(peers: readonly ReconPeer[]): Promise<Map<string, ReconPeer[]>> {
    const resolve = this.opts.resolver ?? systemResolver;
    const map = new Map<string, ReconPeer[]>();
    const add = (addr: string, p: ReconPeer) => {
      const k = normalAddress(addr);
      map.set(k, [...(map.get(k) ?? []), p]);
    };
    await Promise.all(
      peers.map(async (p) => {
        if (isIP(p.host) !== 0) return add(p.host, p);
        try {
          for (const a of await resolve(p.host)) add(a, p);
        } catch (err) {
          this.opts.onError?.(new EnvironmentError('MS_RECON_MEMBERSHIP_IO', `cannot resolve recon peer ${p.host}: ${(err as Error).message}`, { cause: err, data: { host: p.host } }));
        }
      }),
    );
    // Listed order, so peerFor's "first" is the file's.
    for (const [k, v] of map) map.set(k, v.sort((a, b) => a.line - b.line));
    return map;
  }

  private async reload(strict: boolean): Promise<void> {
    const io = (why: string, cause?: unknown) =>
      new EnvironmentError('MS_RECON_MEMBERSHIP_IO', `cannot read the recon membership file ${this.path}: ${why}`, {
        cause,
        data: { path: this.path },
        hints: ['the membership file must be a regular file (or a symlink to one), "host port" per line'],
      });
    let st: Stats;
    try {
      st = await stat(this.path);
    } catch (err) {
      return this.failed(io((err as NodeJS.ErrnoException).code ?? (err as Error).message, err), 'missing', strict);
    }
    const sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
    // Checked before opening: opening a FIFO would wait for a writer.
    const bad = notRegular(st);
    if (bad) return this.failed(io(bad), sig, strict);
    if (sig !== this.signature && st.size > MAX_MEMBERSHIP_BYTES) return this.failed(tooLarge(this.path), sig, strict);
    if (sig === this.signature) return;
    let text: string | Error;
    try {
      text = await this.read();
    } catch (err) {
      return this.failed(io((err as NodeJS.ErrnoException).code ?? (err as Error).message, err), sig, strict);
    }
    if (text instanceof Error) return this.failed(text, sig, strict);
    try {
      const peers = parseMembership(text, this.path);
      this.signature = sig;
      this.list = peers;
      this.addresses = undefined;
      this.opts.onLoad?.(peers);
    } catch (err) {
      this.failed(err instanceof InputError ? err : io((err as Error).message, err), sig, strict);
    }
  }

  /** The file's text, or why it is not read (swapped since the stat for something not regular, or too large). */
  private async read(): Promise<string | Error> {
    const fh = await open(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      // The file may have been swapped since the stat: what was opened is checked again.
      const st = await fh.stat();
      const bad = notRegular(st);
      if (bad) return new EnvironmentError('MS_RECON_MEMBERSHIP_IO', `cannot read the recon membership file ${this.path}: ${bad}`, { data: { path: this.path } });
      const buf = Buffer.alloc(Math.min(st.size, MAX_MEMBERSHIP_BYTES) + 1);
      let n = 0;
      while (n < buf.length) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      if (n > MAX_MEMBERSHIP_BYTES) return tooLarge(this.path);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      await fh.close();
    }
  }

  private failed(err: Error, sig: string, strict: boolean): void {
    if (strict) throw err;
    // Reported once per version of the file, not at every read.
    if (this.signature === `bad:${sig}`) return;
    this.signature = `bad:${sig}`;
    this.opts.onError?.(err);
  }
}

/** Why a stat is not of a membership file we read, or undefined for a regular file not too large. */
function notRegular(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
  return `it is ${kind}, not a regular file`;
}

function tooLarge(path: string): InputError {
  return new InputError('MS_RECON_MEMBERSHIP', `the recon membership file ${path} is over ${MAX_MEMBERSHIP_BYTES} bytes`, {
    data: { source: path },
    hints: [`a membership file is at most ${MAX_MEMBERSHIP_BYTES / 1024} KiB and ${MAX_PEERS} peers, "host port" per line`],
  });
}
