/**
 * Reading from a Unix-socket peer we do not control (gpg-agent, ssh-agent): lines and
 * exact byte counts, each read bounded in size and in time, so a peer that sends a huge
 * length or nothing at all costs neither memory nor a hung command. Transport only.
 */
import { connect, type Socket } from 'node:net';
import { EnvironmentError, TemporaryError } from '../errors.js';

const seconds = (ms: number) => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);

export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private failure?: Error;
  private wake?: () => void;

  constructor(
    readonly socket: Socket,
    /** Who the peer is, for messages ("gpg-agent", "ssh-agent"). */
    readonly peer: string,
    /** Most bytes held unread; a peer that sends more without our asking is cut off. */
    private readonly maxBuffered = 1 << 20,
  ) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.buffered += d.length;
      if (this.buffered > this.maxBuffered) {
        this.failure = new EnvironmentError('MS_AGENT_PROTOCOL', `${peer} sent more than ${this.maxBuffered} bytes unasked`);
        socket.destroy();
      }
      this.wake?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', (err) => {
      this.failure ??= err;
      this.wake?.();
    });
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  /** Waits until `ready()` holds, the peer closes, or `timeoutMs` passes (0: no limit). */
  private async until(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    try {
      while (!ready()) {
        if (this.failure) throw this.failure;
        if (this.ended) return;
        if (timedOut) {
          this.socket.destroy();
          throw new TemporaryError('MS_AGENT_TIMEOUT', `${this.peer} did not answer within ${seconds(timeoutMs)} (waiting for ${what})`);
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          if (timeoutMs > 0 && !timer) {
            timer = setTimeout(() => {
              timedOut = true;
              this.wake?.();
            }, timeoutMs);
          }
        });
        this.wake = undefined;
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * The next line without its newline; undefined when the peer closed first.
   * @throws EnvironmentError (MS_AGENT_PROTOCOL) for a line longer than maxLength; TemporaryError (MS_AGENT_TIMEOUT)
   */
  async line(maxLength: number, timeoutMs: number): Promise<Buffer | undefined> {
    const newline = () => {
      let seen = 0;
      for (const c of this.chunks) {
        const i = c.indexOf(0x0a);
        if (i >= 0) return seen + i;
        seen += c.length;
      }
      return -1;
    };
    await this.until(() => newline() >= 0 || this.buffered > maxLength, timeoutMs, 'a line');
    const at = newline();
    if (at < 0) {
      if (this.buffered > maxLength) throw new EnvironmentError('MS_AGENT_PROTOCOL', `${this.peer} sent a line longer than ${maxLength} bytes`);
      if (this.failure) throw this.failure;
      return undefined;
    }
    if (at > maxLength) throw new EnvironmentError('MS_AGENT_PROTOCOL', `${this.peer} sent a line longer than ${maxLength} bytes`);
    const line = this.take(at + 1);
    return line.subarray(0, at);
  }

  /** Exactly `n` bytes, or fewer when the peer closed first. @throws TemporaryError (MS_AGENT_TIMEOUT) */
  async bytes(n: number, timeoutMs: number): Promise<Buffer> {
    await this.until(() => this.buffered >= n, timeoutMs, `${n} bytes`);
    if (this.buffered < n && this.failure) throw this.failure;
    return this.take(Math.min(n, this.buffered));
  }

  async write(data: Buffer | string): Promise<void> {
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Connects to a Unix socket within `timeoutMs`; rejects with the system error (its `code`
 * says why: ENOENT, ECONNREFUSED, EACCES, …) or a TemporaryError (MS_AGENT_TIMEOUT).
 */
export function connectUnix(path: string, peer: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TemporaryError('MS_AGENT_TIMEOUT', `${peer} at ${path} did not accept the connection within ${seconds(timeoutMs)}`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
