/**
 * msva-query-agent: asks a running validation agent (ours or msva-perl) about one
 * certificate, with the original's arguments, output and exit codes:
 *
 *     msva-query-agent CONTEXT PEER PKC_TYPE [PEER_TYPE] < PKC_DATA
 *     msva-query-agent CONTEXT PEER PKC_TYPE PEER_TYPE PKC_DATA
 *     msva-query-agent --version
 *
 * It prints the agent's message (no newline added) and exits 0 when the agent says valid,
 * 1 when not; when the agent does not answer 200 (unreachable, refused, a bad request) it
 * prints the HTTP status line and exits 100. MONKEYSPHERE_VALIDATION_AGENT_SOCKET names
 * the agent (default http://127.0.0.1:8901); MSVA_LOG_LEVEL=info also logs the verdict
 * and the agent's name on stderr.
 */
import { request } from 'node:http';
import { type Io, processIo, readAll } from './io.js';
import { Logger } from './log.js';
import { msvaLevel } from './validation-agent.js';

const DEFAULT_SOCKET = 'http://127.0.0.1:8901';
/** Seconds to wait for the agent (LWP's default is 180). */
const TIMEOUT_MS = 180_000;

interface HttpAnswer {
  /** `200 OK`, `403 Forbidden`, or LWP's `500 Can't connect to HOST:PORT (reason)`. */
  status: string;
  body?: unknown;
}

function usage(name: string): string {
  return `Usage: ${name} CONTEXT PEER PKC_TYPE [PEER_TYPE] < PKC_DATA\n       ${name} CONTEXT PEER PKC_TYPE PEER_TYPE PKC_DATA\n       ${name} --version\n`;
}

/** One HTTP exchange with the agent; never throws (failures become LWP-style 500 status lines). */
function exchange(socket: string, method: 'GET' | 'POST', path: string, json?: string): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(path, socket.endsWith('/') ? socket : `${socket}/`);
      if (url.protocol !== 'http:') throw new Error(`unsupported protocol ${url.protocol}`);
    } catch (err) {
      resolve({ status: `500 Can't connect to ${socket} (${(err as Error).message})` });
      return;
    }
    const hostPort = `${url.hostname}:${url.port || 80}`;
    const headers: Record<string, string | number> = { Accept: 'application/json', Connection: 'close' };
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(json);
    }
    const req = request(url, { method, headers, timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => resolve({ status: `500 ${err.message}` }));
      res.on('end', () => {
        const status = `${res.statusCode} ${res.statusMessage ?? ''}`.trim();
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          // Not JSON (a 403 or 404 page): the status line says it.
        }
        resolve({ status, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('read timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ECONNREFUSED' ? 'Connection refused' : err.message;
      resolve({ status: `500 Can't connect to ${hostPort} (${why})` });
    });
    req.end(json);
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const name = 'msva-query-agent';
  const socket = io.env.MONKEYSPHERE_VALIDATION_AGENT_SOCKET || DEFAULT_SOCKET;
  const log = new Logger(io, msvaLevel(io.env.MSVA_LOG_LEVEL), '');
  const [context, peer, pkcType, peerType, pkcArg] = argv;
  if (context === undefined || context === '--help') {
    io.stderr.write(usage(name));
    return context === undefined ? 1 : 0;
  }
  if (context === '--version') {
    const r = await exchange(socket, 'GET', '/');
    log.verbose(`status: ${r.status}`);
    if (r.status.startsWith('200 ') && isObject(r.body)) {
      io.stdout.write(`${String(r.body.server)}\n`);
      return 0;
    }
    return 1;
  }
  const data: Buffer | string = pkcArg ?? (await readAll(io.stdin));
  // msva's JSON carries DER as an array of byte values, and everything else as text.
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const pkcData = pkcType === 'x509der' ? [...bytes] : typeof data === 'string' ? data : bytes.toString('utf8');
  const apd: Record<string, unknown> = { context, peer: { name: peer, ...(peerType !== undefined ? { type: peerType } : {}) }, pkc: { type: pkcType, data: pkcData } };
  log.debug(`context: ${context}`);
  log.debug(`peer: ${peer}`);
  log.debug(`pkctype: ${pkcType}`);
  const r = await exchange(socket, 'POST', '/reviewcert', JSON.stringify(apd));
  log.verbose(`status: ${r.status}`);
  if (r.status.startsWith('200 ') && isObject(r.body)) {
    const valid = r.body.valid === true;
    log.info(`valid: ${valid ? 1 : 0}`);
    log.info(`server: ${String(r.body.server)}`);
    io.stdout.write(String(r.body.message ?? ''));
    return valid ? 0 : 1;
  }
  io.stdout.write(`${r.status}\n`);
  // Our agent says why in JSON; the status line stays the original's output.
  if (isObject(r.body) && isObject(r.body.error)) io.stderr.write(`${name}: error: ${String(r.body.error.message)}\n`);
  return 100;
}
