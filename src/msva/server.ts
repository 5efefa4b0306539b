/**
 * The validation agent's HTTP face (behaviour inventory §6): JSON over plain HTTP on the IPv4
 * loopback only. `GET /` says the agent is there, `POST /reviewcert` answers, `POST
 * /extracerts` is not implemented (msva-perl answered 500), other methods get 405 with
 * `Allow`, other paths 404. Only the local users allowed (the agent's own by default) may
 * ask: the peer's uid comes from /proc/net/tcp, and a peer whose uid cannot be found is
 * refused (msva-perl let it in). A request with a web page's `Origin`, or a `Host` other than
 * the loopback (DNS rebinding), is refused too: the agent answers local programs and
 * browser extensions, not web sites. Bodies are bounded; a request the agent cannot answer
 * gets a JSON error with its code, and the agent keeps serving.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { errorMessage, MsError, TemporaryError } from '../errors.js';
import { peerUid } from './peer-uid.js';
import { parseReviewRequest, RequestError } from './request.js';
import type { ReviewAnswer } from './review.js';
import type { ReviewRequest } from './request.js';

/** Request bodies above this are refused with 413: a certificate chain in msva's JSON is far smaller. */
export const MAX_BODY = 1024 * 1024;

export interface AgentLog {
  error(message: string): void;
  info(message: string): void;
  verbose(message: string): void;
  debug(message: string): void;
}

export interface AgentServerOptions {
  /** 0: any free port. */
  port: number;
  /** Local uids that may ask. */
  allowedUids: ReadonlySet<number>;
  /** The `server` member of every reply, e.g. "MSVA-Monkeysphere 0.50.0". */
  serverName: string;
  answer(req: ReviewRequest): Promise<ReviewAnswer>;
  log: AgentLog;
  maxBody?: number;
  /** Finds a connection's local uid (tests replace it); default /proc/net/tcp. */
  peerUid?: (socket: Socket) => Promise<number | undefined>;
}

export interface AgentServer {
  port: number;
  /** `http://127.0.0.1:PORT`, the value of MONKEYSPHERE_VALIDATION_AGENT_SOCKET. */
  url: string;
  close(): Promise<void>;
}

const ROUTES: Record<string, string> = { '/': 'GET', '/reviewcert': 'POST', '/extracerts': 'POST' };

function defaultPeerUid(socket: Socket): Promise<number | undefined> {
  return peerUid(socket.remoteAddress ?? '', socket.remotePort ?? 0, socket.localAddress ?? '', socket.localPort ?? 0);
}

class BodyTooLarge extends Error {}

/**
 * The body, at most `max` bytes; a longer one is rejected with BodyTooLarge as soon as it
 * is known, and the rest of it is read and dropped as it comes (the request timeout bounds a
 * client that never stops), so the connection stays usable and the client reads the 413.
 */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => {
      req.removeAllListeners('data');
      req.removeAllListeners('end');
      req.resume();
      reject(new BodyTooLarge());
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) tooLarge();
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Starts the agent on 127.0.0.1. @throws the listen error (port in use, say). */
export async function startAgentServer(opts: AgentServerOptions): Promise<AgentServer> {
  const max = opts.maxBody ?? MAX_BODY;
  const findUid = opts.peerUid ?? defaultPeerUid;
  const uids = new WeakMap<Socket, Promise<number | undefined>>();
  const log = opts.log;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.headersSent) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  const jsonError = (res: ServerResponse, status: number, code: string, message: string, extra: Record<string, string> = {}) => {
    log.error(`${code}: ${message}`);
    send(res, status, { valid: false, message, server: opts.serverName, error: { code, message } }, extra);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    let pending = uids.get(socket);
    if (!pending) {
      pending = findUid(socket);
      uids.set(socket, pending);
    }
    const uid = await pending;
    if (uid === undefined || !opts.allowedUids.has(uid)) {
      log.error(`MSVA client connection from ${uid === undefined ? 'an unknown uid' : `uid ${uid}`}, forbidden.`);
      send(res, 403, 'HTTP/1.1 403 Forbidden -- peer does not match the local user ID.  Are you sure the agent is running as the same user?\r\n', { Connection: 'close' });
      return;
    }
    log.verbose(`Allowing access from uid ${uid}`);
    const host = req.headers.host;
    if (host !== undefined && !/^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/i.test(host)) {
      jsonError(res, 403, 'MS_MSVA_FORBIDDEN', `the agent answers only requests addressed to the loopback, not to ${JSON.stringify(host)}`);
      return;
    }
    const origin = req.headers.origin;
    // "null" is a web page too (a sandboxed iframe, a data: URL): only extensions and non-browser clients get in.
    if (origin !== undefined && !/^(?:moz-extension|chrome-extension|safari-web-extension):\/\//.test(origin)) {
      jsonError(res, 403, 'MS_MSVA_FORBIDDEN', `the agent does not answer web pages (Origin ${JSON.stringify(origin)})`);
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    const method = ROUTES[path];
    if (!method) {
      send(
        res,
        404,
        `HTTP/1.0 404 Not Found -- the path:\r\n   ${path}\r\nis not handled by the MonkeySphere validation agent.\r\nPlease try one of the following paths instead:\r\n\r\n * ${Object.keys(ROUTES).join('\r\n * ')}\r\n`,
      );
      return;
    }
    if (req.method !== method) {
      send(res, 405, { server: opts.serverName, error: { code: 'MS_MSVA_METHOD', message: `${path} takes ${method}, not ${req.method}` } }, { Allow: method });
      return;
    }
    if (path === '/') {
      send(res, 200, { available: true, protoversion: 1, server: opts.serverName });
      return;
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, max);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        jsonError(res, 413, 'MS_MSVA_TOO_LARGE', `the request body is larger than ${max} bytes`);
        return;
      }
      throw err;
    }
    if (path === '/extracerts') {
      jsonError(res, 501, 'MS_MSVA_NOT_IMPLEMENTED', '/extracerts is not implemented');
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      jsonError(res, 400, 'MS_MSVA_JSON', `the request body is not JSON: ${errorMessage(err)}`);
      return;
    }
    try {
      const parsed = parseReviewRequest(body);
      log.verbose(`reviewing ${parsed.pkc.type} for ${JSON.stringify(parsed.userId)}`);
      const answer = await opts.answer(parsed);
      log.info(`returning: ${JSON.stringify(answer)}`);
      // certificates and validCertificates (when not valid) are ours; msva-perl's clients ignore them.
      const extra = answer.valid || answer.certificates === undefined ? {} : { certificates: answer.certificates, validCertificates: answer.validCertificates ?? [] };
      send(res, 200, { valid: answer.valid, message: answer.message, server: opts.serverName, ...extra });
    } catch (err) {
      if (err instanceof RequestError) jsonError(res, err.status, err.code, err.message);
      else throw err;
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (err instanceof MsError) {
        // The machine or the keyring is not as needed (an unreadable GnuPG home, say): the local user is told why.
        jsonError(res, err instanceof TemporaryError ? 503 : 500, err.code, `the request could not be answered: ${err.message}`);
        return;
      }
      log.error(`internal error: ${errorMessage(err)}${err instanceof Error && err.stack ? `\n${err.stack}` : ''}`);
      send(res, 500, { valid: false, message: 'internal error', server: opts.serverName, error: { code: 'MS_MSVA_INTERNAL', message: 'internal error' } });
    });
  });
  // Slow or silent clients do not hold the agent.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: opts.port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
