/**
 * A loopback HTTP proxy in front of the real validation agent, for the extension's tests:
 * every request goes to the agent unchanged and every answer comes back unchanged; it only
 * records which peers Firefox asked about, and whether the agent's refusals carried the
 * members the extension blocks on (`certificates`, `validCertificates`; extension/README.md).
 */
import { createServer, type Server } from 'node:http';

export interface AgentRecorder {
  url: string;
  /** Whether every refusal seen carried `validCertificates` (true while none was seen). */
  refusalsCarryValidCertificates: () => boolean;
  /** The peer names asked about, in order (with ` keyserverpolicy=P` when the request set one). */
  asked: string[];
  close(): Promise<void>;
}

export async function startAgentRecorder(agentUrl: string): Promise<AgentRecorder> {
  let members = true;
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
        const text = await up.text();
        if (req.url === '/reviewcert') {
          const sent = JSON.parse(body.toString('utf8')) as { peer?: { name?: string }; keyserverpolicy?: string };
          if (typeof sent.peer?.name === 'string') asked.push(`${sent.peer.name}${sent.keyserverpolicy ? ` keyserverpolicy=${sent.keyserverpolicy}` : ''}`);
          if (up.status === 200) {
            const answer = JSON.parse(text) as Record<string, unknown>;
            if (answer.valid === false && !Array.isArray(answer.validCertificates)) members = false;
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
    refusalsCarryValidCertificates: () => members,
    asked,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
