/**
 * The keyserver half of monkeysphere-host when run as root: started by unprivileged.ts
 * as MONKEYSPHERE_USER, it performs one keyserver operation (JSON request on stdin,
 * JSON reply on stdout), so network answers are never parsed with root privileges.
 * An entry script: never imported.
 */
import { MsError } from '../errors.js';
import { KeyserverClient } from '../keyserver/client.js';
import { writeCerts } from '../openpgp/cert.js';

interface Request {
  op: 'send' | 'getByFingerprint' | 'getByKeyId';
  servers: string[];
  /** Fingerprint or key ID, or base64 certificate bytes for send. */
  arg: string;
}

function errorJson(err: unknown): unknown {
  if (err instanceof MsError) return { name: err.name, exitCode: err.exitCode, code: err.code, message: err.message, hints: err.hints };
  return { name: 'Error', code: 'MS_HOST_WORKER', message: err instanceof Error ? err.message : String(err), hints: [] };
}

async function run(): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const req = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Request;
  const client = new KeyserverClient({ servers: req.servers });
  const uid = process.getuid?.() ?? -1;
  if (req.op === 'send') {
    const r = await client.send(Buffer.from(req.arg, 'base64'));
    return { uid, server: r.server, sent: r.sent, reply: r.reply, withheldSignatures: r.withheldSignatures };
  }
  const r = req.op === 'getByFingerprint' ? await client.getByFingerprint(req.arg) : await client.getByKeyId(req.arg);
  return { uid, server: r.server, certs: writeCerts(r.certs).toString('base64') };
}

run().then(
  (result) => process.stdout.write(JSON.stringify({ ok: result })),
  (err) => process.stdout.write(JSON.stringify({ error: errorJson(err) })),
);
