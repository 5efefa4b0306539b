/**
 * A stand-in, for the extension's tests, for the two reply members the extension asks of the
 * validation agent (extension/README.md, "What the extension needs from the agent"):
 * `certificates` (how many certificates carry the user ID) and `validCertificates` (the
 * fingerprints of those on which the user ID is fully valid with a usable key). A loopback
 * HTTP proxy in front of the real agent: every request goes to the agent unchanged; a
 * `/reviewcert` answer that lacks the members gets them, computed from the same GnuPG home
 * by the agent's own trust source (src/msva/trust.ts). Once the agent sends them, this adds
 * nothing.
 */
import { createServer, type Server } from 'node:http';
import { HomeTrust } from '../../src/msva/trust.js';
import { KeyFlag } from '../../src/openpgp/signature.js';
import type { UidCert } from '../../src/user/home-keys.js';
import { isFullyValid } from '../../src/wot/network.js';

const silent = { error() {}, info() {}, verbose() {}, debug() {} };

/** The certificates on which `userId` is fully valid and that hold a usable authentication-capable key. */
export function vouchedFor(certs: readonly UidCert[]): string[] {
  return certs
    .filter((c) => isFullyValid(c.validity) && !['r', 'e', 'i'].includes(c.keyValidity) && !c.disabled)
    .filter((c) => c.keys.some((k) => (k.flags & KeyFlag.Authenticate) !== 0 && k.status === 'valid'))
    .map((c) => c.fpr);
}

export interface VouchProxy {
  url: string;
  /** Whether the agent sent the members itself (then the proxy added nothing). */
  agentHasMembers: () => boolean;
  /** The peer names asked about through the proxy, in order (with ` keyserverpolicy=P` when the request set one). */
  asked: string[];
  close(): Promise<void>;
}

export async function startVouchProxy(agentUrl: string, env: NodeJS.ProcessEnv, now: number): Promise<VouchProxy> {
  const trust = new HomeTrust({ env, gnupgHome: env.GNUPGHOME as string, keyserver: 'hkp://127.0.0.1:1', keyserverTimeout: 1, log: silent });
  let native = false;
  const asked: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const body = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const h of ['content-type', 'origin']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
        const up = await fetch(`${agentUrl}${req.url}`, { method: req.method, headers, body: req.method === 'POST' ? body : undefined });
        let text = await up.text();
        if (req.url === '/reviewcert') {
          const sent = JSON.parse(body.toString('utf8')) as { peer?: { name?: string }; keyserverpolicy?: string };
          if (typeof sent.peer?.name === 'string') asked.push(`${sent.peer.name}${sent.keyserverpolicy ? ` keyserverpolicy=${sent.keyserverpolicy}` : ''}`);
        }
        if (req.url === '/reviewcert' && up.status === 200) {
          const answer = JSON.parse(text) as Record<string, unknown>;
          if ('validCertificates' in answer) native = true;
          else if (answer.valid === false) {
            const sent = JSON.parse(body.toString('utf8')) as { peer: { name: string } };
            const certs = await trust.certsFor(`https://${sent.peer.name}`, now);
            answer.certificates = certs.length;
            answer.validCertificates = vouchedFor(certs);
            text = JSON.stringify(answer);
          }
        }
        res.writeHead(up.status, { 'Content-Type': up.headers.get('content-type') ?? 'application/json' });
        res.end(text);
      } catch (err) {
        res.writeHead(502, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'TEST_PROXY', message: (err as Error).message } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    agentHasMembers: () => native,
    asked,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await trust.close();
    },
  };
}
