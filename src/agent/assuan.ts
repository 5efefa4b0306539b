/**
 * An Assuan client (the line protocol of GnuPG's daemons; libassuan's "Assuan" manual):
 * one command at a time, answered by data (`D`, percent-escaped), status (`S`), comment
 * (`#`) and inquiry (`INQUIRE`) lines, then `OK` or `ERR <gpg-error> <text>`. Enough for
 * gpg-agent; no server side, no file-descriptor passing.
 */
import type { Socket } from 'node:net';
import { EnvironmentError, NotFoundError } from '../errors.js';
import { SocketReader } from './socket-reader.js';

/** Assuan lines are at most 1000 bytes (ASSUAN_LINELENGTH); a little slack for odd servers. */
const MAX_LINE = 4096;
/** libgpg-error's code for "No secret key" (GPG_ERR_NO_SECKEY), in the low 16 bits of an ERR number. */
const GPG_ERR_NO_SECKEY = 17;

/** Decodes Assuan's %XX escapes (a `%` not followed by two hex digits stays as it is). */
export function percentDecode(line: Buffer): Buffer {
  const out = Buffer.alloc(line.length);
  let o = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === 0x25 && i + 2 < line.length && isHex(line[i + 1]) && isHex(line[i + 2])) {
      out[o++] = Number.parseInt(line.toString('latin1', i + 1, i + 3), 16);
      i += 2;
    } else out[o++] = c;
  }
  return out.subarray(0, o);
}

const isHex = (c: number | undefined) => c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));

/** Escapes data for a `D` line we send: `%`, CR and LF; one char per byte (write it as latin1). */
export function percentEncodeData(data: Buffer): string {
  let s = '';
  for (const c of data) s += c === 0x25 || c === 0x0d || c === 0x0a ? `%${c.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(c);
  return s;
}

/**
 * GnuPG's percent_plus_escape (common/percent.c): space becomes `+`; `+`, `"`, `%` and
 * control characters become %XX. For the text of SETKEYDESC and similar arguments.
 */
export function percentPlusEscape(text: string): string {
  let s = '';
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    if (c === 0x2b || c === 0x22 || c === 0x25 || c < 0x20) s += `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (c === 0x20) s += '+';
    else s += ch;
  }
  return s;
}

export interface TransactOptions {
  /** How long to wait for each answer line, in ms (0: no limit; a pinentry may wait for a person). */
  timeoutMs?: number;
  /** Most data bytes accepted for the answer (default 1 MiB). */
  maxData?: number;
  /** An INQUIRE: return the data to send, or undefined to send none (as libassuan does when the callback has nothing). */
  inquire?: (keyword: string, args: string) => Buffer | undefined;
  /** An `S` status line. */
  status?: (keyword: string, args: string) => void;
}

/** What an `ERR` answer said. */
export interface AssuanErrorData {
  command: string;
  /** The gpg-error number (source in the top bits, code in the low 16). */
  gpgError: number;
  /** The server's text without its `<source>` suffix, as gpg_strerror words it. */
  gpgText: string;
}

/** The data of an ERR answer, when `err` came from one. */
export function assuanErrorData(err: unknown): AssuanErrorData | undefined {
  if (err instanceof EnvironmentError || err instanceof NotFoundError) {
    const d = err.data as Partial<AssuanErrorData>;
    if (typeof d.gpgError === 'number' && typeof d.gpgText === 'string' && typeof d.command === 'string') return d as AssuanErrorData;
  }
  return undefined;
}

export class AssuanClient {
  private readonly reader: SocketReader;

  /** Takes a connected socket; call greeting() before the first command. */
  constructor(
    socket: Socket,
    readonly peer: string,
    private readonly defaultTimeoutMs = 30_000,
  ) {
    this.reader = new SocketReader(socket, peer, 1 << 20);
  }

  /** Reads the server's greeting (`OK …`). @throws EnvironmentError (MS_AGENT_PROTOCOL, MS_AGENT_GPG_AGENT_ERROR) */
  async greeting(): Promise<void> {
    await this.answer('(greeting)', { timeoutMs: this.defaultTimeoutMs });
  }

  /**
   * Sends one command and returns the data of its answer.
   * @throws EnvironmentError (MS_AGENT_GPG_AGENT_ERROR with AssuanErrorData) for ERR;
   *   NotFoundError (MS_AGENT_NO_SECRET_KEY) for ERR "No secret key";
   *   EnvironmentError (MS_AGENT_PROTOCOL), TemporaryError (MS_AGENT_TIMEOUT)
   */
  async transact(command: string, opts: TransactOptions = {}): Promise<Buffer> {
    if (/[\r\n]/.test(command) || Buffer.byteLength(command) > 1000) {
      throw new EnvironmentError('MS_AGENT_PROTOCOL', `Assuan command too long or with a line break: ${JSON.stringify(command.slice(0, 40))}`);
    }
    await this.reader.write(`${command}\n`);
    return this.answer(command, opts);
  }

  private async answer(command: string, opts: TransactOptions): Promise<Buffer> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const maxData = opts.maxData ?? 1 << 20;
    const data: Buffer[] = [];
    let size = 0;
    const verb = command.split(' ')[0];
    for (;;) {
      const line = await this.reader.line(MAX_LINE, timeoutMs);
      if (line === undefined) throw new EnvironmentError('MS_AGENT_PROTOCOL', `${this.peer} closed the connection during ${verb}`);
      const text = line.toString('latin1');
      if (text === 'OK' || text.startsWith('OK ')) return Buffer.concat(data);
      if (text.startsWith('D ')) {
        const d = percentDecode(line.subarray(2));
        size += d.length;
        if (size > maxData) throw new EnvironmentError('MS_AGENT_PROTOCOL', `${this.peer} answered ${verb} with more than ${maxData} bytes`);
        data.push(d);
      } else if (text === 'ERR' || text.startsWith('ERR ')) {
        throw this.errorFrom(command, verb, text);
      } else if (text.startsWith('S ')) {
        const [keyword, ...rest] = text.slice(2).split(' ');
        opts.status?.(keyword, rest.join(' '));
      } else if (text.startsWith('INQUIRE ')) {
        const [keyword, ...rest] = text.slice(8).split(' ');
        const reply = opts.inquire?.(keyword, rest.join(' '));
        // Data lines of at most 1000 bytes, escaped; then END (libassuan's assuan_send_data).
        if (reply) for (let i = 0; i < reply.length; i += 300) await this.reader.write(Buffer.from(`D ${percentEncodeData(reply.subarray(i, i + 300))}\n`, 'latin1'));
        await this.reader.write('END\n');
      } else if (text === '#' || text.startsWith('# ')) {
        // A comment: ignored, as libassuan does.
      } else {
        throw new EnvironmentError('MS_AGENT_PROTOCOL', `${this.peer} answered ${verb} with an unexpected line: ${JSON.stringify(text.slice(0, 60))}`);
      }
    }
  }

  private errorFrom(command: string, verb: string, line: string): EnvironmentError | NotFoundError {
    const m = /^ERR\s+(\d+)\s*(.*)$/.exec(line);
    const gpgError = m ? Number(m[1]) : 0;
    // gpg-agent words it "No secret key <GPG Agent>" or "IPC parameter error <GPG Agent> - invalid
    // hexstring": the text, its source in brackets, maybe a detail.
    const gpgText = (m ? m[2] : line.slice(3)).replace(/\s*<[^<>]*>/, '').trim() || 'unknown error';
    const data: Record<string, unknown> = { command: verb === 'SETKEYDESC' ? verb : command, gpgError, gpgText };
    if ((gpgError & 0xffff) === GPG_ERR_NO_SECKEY) {
      return new NotFoundError('MS_AGENT_NO_SECRET_KEY', `${this.peer}: ${verb}: ${gpgText}`, { data });
    }
    return new EnvironmentError('MS_AGENT_GPG_AGENT_ERROR', `${this.peer}: ${verb}: ${gpgText}`, { data });
  }

  close(): void {
    this.reader.close();
  }
}
