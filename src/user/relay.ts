/**
 * The TCP relay ssh-proxycommand ends with: what `exec nc HOST PORT` did for the original,
 * done here so neither netcat nor socat is needed. Bytes from stdin go to the host and the
 * host's bytes to stdout; end of input half-closes the connection (ssh waits for the
 * server's last bytes), and the relay ends when the host closes.
 */
import { connect } from 'node:net';
import type { Readable } from 'node:stream';
import { TemporaryError } from '../errors.js';

/**
 * Relays between `input`/`output` and HOST:PORT until the host closes the connection.
 * @throws TemporaryError (MS_USER_CONNECT) when the connection cannot be made or breaks.
 */
export function relay(host: string, port: number, input: Readable, output: NodeJS.WritableStream, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    let connected = false;
    const fail = (err: Error & { code?: string }) => {
      socket.destroy();
      input.unpipe(socket);
      reject(
        new TemporaryError('MS_USER_CONNECT', `${connected ? 'connection to' : 'cannot connect to'} ${host} port ${port}${connected ? ' broke' : ''}: ${err.code ?? err.message}`, {
          cause: err,
        }),
      );
    };
    socket.once('timeout', () => {
      if (!connected) fail(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
    });
    socket.once('connect', () => {
      connected = true;
      socket.setTimeout(0);
      socket.setNoDelay(true);
      input.pipe(socket);
      socket.pipe(output, { end: false });
    });
    socket.once('error', fail);
    socket.once('close', (hadError) => {
      if (hadError) return;
      input.unpipe(socket);
      resolve();
    });
  });
}
