/**
 * The SSH wire encoding (RFC 4251 §5): uint32, string and mpint, for public-key blobs,
 * the OpenSSH private-key container and agent messages. Pure functions, no key logic.
 */
import { InputError } from '../errors.js';

/** An SSH `string`: uint32 length, then the bytes. */
export function sshString(data: Uint8Array | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

export function sshUint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** An SSH `mpint` from a non-negative big-endian magnitude: no leading zeros, a zero byte added when the top bit is set. */
export function sshMpint(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  let v = Buffer.from(magnitude.subarray(i));
  if (v.length > 0 && v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return sshString(v);
}

/** Sequential reader over SSH wire data; every read checks bounds and throws InputError. */
export class SshReader {
  private pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly what = 'SSH data',
  ) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private fail(detail: string): never {
    throw new InputError('MS_SSH_MALFORMED', `malformed ${this.what}: ${detail}`);
  }

  uint32(): number {
    if (this.remaining < 4) this.fail('truncated integer');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bytes(n: number): Buffer {
    if (this.remaining < n) this.fail(`needs ${n} more bytes, ${this.remaining} left`);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  string(): Buffer {
    return this.bytes(this.uint32());
  }

  text(): string {
    return this.string().toString('utf8');
  }

  /** An mpint as a magnitude without leading zeros; negative values are rejected. */
  mpint(): Buffer {
    const v = this.string();
    if (v.length > 0 && v[0] & 0x80) this.fail('negative mpint');
    let i = 0;
    while (i < v.length && v[i] === 0) i++;
    return v.subarray(i);
  }

  /** Fails unless every byte was read. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes`);
  }
}
