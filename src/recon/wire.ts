/**
 * The recon wire format of SKS 1.1.6 and Hockeypuck's conflux: messages framed as
 * `int32be length ‖ type byte ‖ body` (SKS nbMsgContainer.ml, reconMessages.ml), their
 * codec, and a reader that enforces limits (message length, element counts, read timeouts)
 * so a peer can neither exhaust memory nor stall us. It knows bytes, not sessions.
 */
import type { Duplex } from 'node:stream';
import { InputError, TemporaryError } from '../errors.js';
import { type Bitstring, decodeBitstring, encodeBitstring } from './bitstring.js';
import { isZp, P, ZP_BYTES, zpToBytes } from './zp.js';

/** Message type bytes (SKS reconMessages.ml marshal_msg). */
export const MsgType = {
  ReconRqstPoly: 0,
  ReconRqstFull: 1,
  Elements: 2,
  FullElements: 3,
  SyncFail: 4,
  Done: 5,
  Flush: 6,
  Error: 7,
  DbRqst: 8,
  DbRepl: 9,
  Config: 10,
} as const;
export type MsgTypeName = keyof typeof MsgType;

export type ReconMessage =
  | { readonly type: 'ReconRqstPoly'; readonly prefix: Bitstring; readonly size: number; readonly samples: readonly bigint[] }
  | { readonly type: 'ReconRqstFull'; readonly prefix: Bitstring; readonly elements: readonly bigint[] }
  | { readonly type: 'Elements'; readonly elements: readonly bigint[] }
  | { readonly type: 'FullElements'; readonly elements: readonly bigint[] }
  | { readonly type: 'SyncFail' }
  | { readonly type: 'Done' }
  | { readonly type: 'Flush' }
  | { readonly type: 'Error'; readonly text: string }
  | { readonly type: 'DbRqst'; readonly text: string }
  | { readonly type: 'DbRepl'; readonly text: string }
  /** Keys and raw values, in wire order; config.ts reads them (ints are 4-byte strings). */
  | { readonly type: 'Config'; readonly entries: readonly (readonly [string, Buffer])[] };

/** Bounds on what a peer may send. */
export interface WireLimits {
  /** Largest frame body (type byte and body) accepted, in bytes. Hockeypuck: 16 MiB. */
  readonly maxMessageBytes: number;
  /** Most elements (or samples) in one message. */
  readonly maxElements: number;
  /** Longest string (error text, config key or value, config answer). */
  readonly maxStringBytes: number;
  /** Most entries in a Config message. */
  readonly maxConfigEntries: number;
}

export const DEFAULT_LIMITS: WireLimits = {
  maxMessageBytes: 1 << 24,
  maxElements: 100_000,
  maxStringBytes: 1 << 16,
  maxConfigEntries: 64,
};

// ---------------------------------------------------------------------------------------
// Encoding

class Encoder {
  private readonly parts: Buffer[] = [];
  private size = 0;

  bytes(b: Uint8Array): void {
    const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    this.parts.push(buf);
    this.size += buf.length;
  }
  int(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`recon: ${n} is not a wire int`);
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n);
    this.bytes(b);
  }
  byte(n: number): void {
    this.bytes(Buffer.of(n));
  }
  string(s: string | Uint8Array): void {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    this.int(b.length);
    this.bytes(b);
  }
  zp(z: bigint): void {
    this.bytes(encodeZp(z));
  }
  zps(zs: readonly bigint[]): void {
    this.int(zs.length);
    for (const z of zs) this.zp(z);
  }
  prefix(p: Bitstring): void {
    this.bytes(encodeBitstring(p));
  }
  result(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

/** A Z_p element as 17 little-endian bytes. */
export function encodeZp(z: bigint): Buffer {
  if (!isZp(z)) throw new RangeError('recon: element out of Z_p');
  return zpToBytes(z);
}

/** The body of a message: its type byte and fields, without the length. */
export function encodeBody(m: ReconMessage): Buffer {
  const e = new Encoder();
  e.byte(MsgType[m.type]);
  switch (m.type) {
    case 'ReconRqstPoly':
      e.prefix(m.prefix);
      e.int(m.size);
      e.zps(m.samples);
      break;
    case 'ReconRqstFull':
      e.prefix(m.prefix);
      e.zps(m.elements);
      break;
    case 'Elements':
    case 'FullElements':
      e.zps(m.elements);
      break;
    case 'Error':
    case 'DbRqst':
    case 'DbRepl':
      e.string(m.text);
      break;
    case 'Config':
      e.int(m.entries.length);
      for (const [k, v] of m.entries) {
        e.string(k);
        e.string(v);
      }
      break;
    case 'SyncFail':
    case 'Done':
    case 'Flush':
      break;
  }
  return e.result();
}

/** A framed message: int32be length, then the body. */
export function encodeMessage(m: ReconMessage): Buffer {
  const body = encodeBody(m);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** A bare string outside any frame, as the config answer (`passed`, `failed` and a reason) is sent. */
export function encodeString(s: string): Buffer {
  const e = new Encoder();
  e.string(s);
  return e.result();
}

// ---------------------------------------------------------------------------------------
// Decoding

function malformed(what: string, data: Record<string, unknown> = {}): InputError {
  return new InputError('MS_RECON_MALFORMED', `malformed recon message: ${what}`, { data });
}

function overLimit(what: string, data: Record<string, unknown> = {}): InputError {
  return new InputError('MS_RECON_LIMIT', `recon message over limit: ${what}`, { data });
}

class Decoder {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly limits: WireLimits,
  ) {}

  private need(n: number, what: string): void {
    if (this.buf.length - this.pos < n) throw malformed(`${what} runs past the end of the message`, { offset: this.pos, need: n });
  }
  byte(): number {
    this.need(1, 'type byte');
    return this.buf[this.pos++];
  }
  int(what: string): number {
    this.need(4, what);
    const n = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    if (n < 0) throw malformed(`negative ${what}`, { value: n });
    return n;
  }
  raw(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  string(what: string): Buffer {
    const n = this.int(`${what} length`);
    if (n > this.limits.maxStringBytes) throw overLimit(`${what} of ${n} bytes`, { length: n, max: this.limits.maxStringBytes });
    return Buffer.from(this.raw(n, what));
  }
  zps(what: string): bigint[] {
    const n = this.int(`${what} count`);
    if (n > this.limits.maxElements) throw overLimit(`${n} ${what}`, { count: n, max: this.limits.maxElements });
    // Checked before allocating: the count must fit in what is left.
    this.need(n * ZP_BYTES, `${n} ${what}`);
    const out = new Array<bigint>(n);
    for (let i = 0; i < n; i++) out[i] = decodeZp(this.raw(ZP_BYTES, what));
    return out;
  }
  prefix(): Bitstring {
    const { value, next } = decodeBitstring(this.buf, this.pos);
    this.pos = next;
    return value;
  }
  end(type: string): void {
    if (this.pos !== this.buf.length) throw malformed(`${this.buf.length - this.pos} bytes after a ${type} message`, { type });
  }
}

/** A Z_p element from 17 little-endian bytes. @throws InputError MS_RECON_MALFORMED when it is p or more. */
export function decodeZp(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (v >= P) throw malformed('an element is not below p');
  return v;
}

const TYPE_NAMES = Object.fromEntries(Object.entries(MsgType).map(([k, v]) => [v, k])) as Record<number, MsgTypeName>;

/**
 * A message from its body (type byte and fields, without the length).
 * @throws InputError MS_RECON_MALFORMED (unknown type, truncated, trailing bytes, element ≥ p),
 *   MS_RECON_LIMIT (more elements, longer strings or prefixes than `limits` allow).
 */
export function decodeBody(body: Buffer, limits: WireLimits = DEFAULT_LIMITS): ReconMessage {
  const d = new Decoder(body, limits);
  const code = d.byte();
  const type = TYPE_NAMES[code];
  if (type === undefined) throw malformed(`unknown message type ${code}`, { msgType: code });
  let m: ReconMessage;
  switch (type) {
    case 'ReconRqstPoly': {
      const prefix = d.prefix();
      const size = d.int('set size');
      m = { type, prefix, size, samples: d.zps('samples') };
      break;
    }
    case 'ReconRqstFull': {
      const prefix = d.prefix();
      m = { type, prefix, elements: d.zps('elements') };
      break;
    }
    case 'Elements':
    case 'FullElements':
      m = { type, elements: d.zps('elements') };
      break;
    case 'Error':
    case 'DbRqst':
    case 'DbRepl':
      m = { type, text: d.string('text').toString('utf8') };
      break;
    case 'Config': {
      const n = d.int('config entry count');
      if (n > limits.maxConfigEntries) throw overLimit(`${n} config entries`, { count: n, max: limits.maxConfigEntries });
      const entries: [string, Buffer][] = [];
      for (let i = 0; i < n; i++) entries.push([d.string('config key').toString('latin1'), d.string('config value')]);
      m = { type, entries };
      break;
    }
    case 'SyncFail':
    case 'Done':
    case 'Flush':
      m = { type };
      break;
  }
  d.end(type);
  return m;
}

// ---------------------------------------------------------------------------------------
// Reading from a connection

export interface ChannelOptions {
  readonly limits?: Partial<WireLimits>;
  /**
   * Longest wait for the next bytes of a read, or for a write to drain, in ms. SKS allows 45 s
   * for the config exchange, Hockeypuck 300 s per read.
   */
  readonly readTimeoutMs?: number;
}

export const DEFAULT_READ_TIMEOUT_MS = 60_000;

/**
 * A recon connection: framed messages and bare strings both ways. Incoming bytes are buffered
 * until a read asks for them; the socket is paused while more than one largest message is
 * buffered. Every read fails with a typed error (never hangs) when the peer closes, errors,
 * sends something malformed or over the limits, sends nothing for `readTimeoutMs`, or the
 * channel is aborted; so does every write the peer does not take within that time.
 */
export class ReconChannel {
  readonly limits: WireLimits;
  readonly timeoutMs: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    readonly conn: Duplex,
    opts: ChannelOptions = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.timeoutMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    conn.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.buffered += b.length;
      if (this.buffered > this.limits.maxMessageBytes + 8) conn.pause();
      this.notify();
    });
    const closed = () => this.fail(new TemporaryError('MS_RECON_CLOSED', 'recon peer closed the connection'));
    conn.on('end', closed);
    conn.on('close', closed);
    // Kept for the socket's life: an 'error' event without a listener would crash the process.
    conn.on('error', (err: Error) => this.fail(new TemporaryError('MS_RECON_CLOSED', `recon connection failed: ${err.message}`, { cause: err })));
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  /** Makes pending and later reads fail with `err` and destroys the connection. */
  abort(err: Error): void {
    this.fail(err);
    this.conn.destroy();
  }

  /** Ends the connection once what was written is flushed, then destroys it. */
  close(): void {
    this.fail(new TemporaryError('MS_RECON_CLOSED', 'recon channel closed'));
    if (this.conn.destroyed) return;
    this.conn.end(() => this.conn.destroy());
    // A peer that never reads what is left must not keep the socket open.
    setTimeout(() => this.conn.destroy(), this.timeoutMs).unref();
  }

  /** Exactly `n` bytes, waiting at most the timeout for each arrival. */
  private async take(n: number, what: string): Promise<Buffer> {
    while (this.buffered < n) {
      // Bytes already here are served even after the peer closed.
      if (this.failure) throw this.failure;
      this.conn.resume();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.wake = undefined;
          reject(new TemporaryError('MS_RECON_TIMEOUT', `recon peer sent nothing for ${this.timeoutMs} ms while we waited for ${what}`, { data: { timeoutMs: this.timeoutMs } }));
        }, this.timeoutMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    if (this.buffered <= this.limits.maxMessageBytes + 8) this.conn.resume();
    return out;
  }

  private async int(what: string): Promise<number> {
    const n = (await this.take(4, what)).readInt32BE(0);
    if (n < 0) throw malformed(`negative ${what}`, { value: n });
    return n;
  }

  /**
   * The next message.
   * @throws InputError MS_RECON_MALFORMED, MS_RECON_LIMIT; TemporaryError MS_RECON_TIMEOUT, MS_RECON_CLOSED.
   */
  async read(): Promise<ReconMessage> {
    const n = await this.int('a message length');
    if (n === 0) throw malformed('empty message');
    if (n > this.limits.maxMessageBytes) throw overLimit(`message of ${n} bytes`, { length: n, max: this.limits.maxMessageBytes });
    return decodeBody(await this.take(n, `a message of ${n} bytes`), this.limits);
  }

  /** A bare string (int32be length, bytes), as in the config answer. */
  async readString(): Promise<string> {
    const n = await this.int('a string length');
    if (n > this.limits.maxStringBytes) throw overLimit(`string of ${n} bytes`, { length: n, max: this.limits.maxStringBytes });
    return (await this.take(n, `a string of ${n} bytes`)).toString('utf8');
  }

  /** Writes framed messages in one write. */
  send(msgs: readonly ReconMessage[]): Promise<void> {
    return writeAll(this.conn, Buffer.concat(msgs.map(encodeMessage)), this.timeoutMs);
  }

  /** Writes bare strings (the config answer). */
  sendStrings(strings: readonly string[]): Promise<void> {
    return writeAll(this.conn, Buffer.concat(strings.map(encodeString)), this.timeoutMs);
  }
}

/**
 * Writes bytes and waits until the connection takes them (its buffer drains), at most
 * `timeoutMs`: a peer that stops reading cannot make us buffer without end.
 * @throws TemporaryError MS_RECON_TIMEOUT, MS_RECON_CLOSED.
 */
export async function writeAll(conn: Duplex, data: Buffer, timeoutMs = DEFAULT_READ_TIMEOUT_MS): Promise<void> {
  if (conn.destroyed || conn.writableEnded) throw new TemporaryError('MS_RECON_CLOSED', 'recon connection is closed');
  if (conn.write(data)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      conn.off('drain', onDrain);
      conn.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new TemporaryError('MS_RECON_CLOSED', 'recon peer closed the connection while we wrote'));
    const timer = setTimeout(
      () => done(new TemporaryError('MS_RECON_TIMEOUT', `recon peer read nothing for ${timeoutMs} ms`, { data: { timeoutMs } })),
      timeoutMs,
    );
    conn.on('drain', onDrain);
    conn.on('close', onClose);
  });
}
