/**
 * Keyserver access as MONKEYSPHERE_USER: when monkeysphere-host runs as root, every
 * keyserver operation runs in a child process (keyserver-worker) with that account's
 * uid and gid, as the original ran gpg through `su`. Results come back as certificate
 * bytes and are read again here; errors keep their class, code and hints.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  EnvironmentError,
  InputError,
  MsError,
  NotFoundError,
  TemporaryError,
  UnsupportedError,
  UsageError,
} from '../errors.js';
import type { FetchResult, KeyserverClient, SendResult } from '../keyserver/client.js';
import { readCerts } from '../openpgp/cert.js';

export type KeyserverOps = Pick<KeyserverClient, 'send' | 'getByFingerprint' | 'getByKeyId'>;

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

const CLASSES: Record<string, new (code: string, message: string, opts?: { hints?: string[] }) => MsError> = {
  UsageError,
  InputError,
  NotFoundError,
  UnsupportedError,
  EnvironmentError,
  TemporaryError,
};

/** For subclasses the parent does not know by name (MalformedPacketError, say): the class of their exit code. */
const BY_EXIT_CODE: Record<number, (typeof CLASSES)[string]> = { 2: UsageError, 3: InputError, 4: EnvironmentError, 5: TemporaryError };

/** Node options that load code (tsx under test), passed on so the worker runs the same way. */
function loaderArgs(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (['--import', '--require', '-r', '--loader', '--experimental-loader'].includes(a) && i + 1 < argv.length) out.push(a, argv[++i]);
    else if (/^--(import|require|loader|experimental-loader)=/.test(a)) out.push(a);
  }
  return out;
}

function workerPath(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./keyserver-worker${ext}`, import.meta.url));
}

async function call(account: Account, request: object, log: (message: string) => void): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [...loaderArgs(), workerPath()], {
    uid: account.uid,
    gid: account.gid,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const exit = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? -1));
  });
  child.stdin.end(JSON.stringify(request));
  let code: number;
  try {
    code = await exit;
  } catch (e) {
    throw new EnvironmentError('MS_HOST_WORKER', `cannot run the keyserver client as ${account.name}: ${(e as Error).message}`, { cause: e });
  }
  let reply: { ok?: Record<string, unknown>; error?: { name: string; exitCode?: number; code: string; message: string; hints: string[] } };
  try {
    reply = JSON.parse(Buffer.concat(out).toString('utf8'));
  } catch {
    throw new EnvironmentError('MS_HOST_WORKER', `the keyserver client running as ${account.name} failed (status ${code}): ${Buffer.concat(err).toString('utf8').trim().split('\n')[0] ?? ''}`, {
      hints: [`${account.name} must be able to read the monkeysphere installation`],
    });
  }
  if (reply.error) {
    const Cls = CLASSES[reply.error.name] ?? BY_EXIT_CODE[reply.error.exitCode ?? 0] ?? MsError;
    throw new Cls(reply.error.code, reply.error.message, { hints: reply.error.hints });
  }
  log(`keyserver access as ${account.name} (uid ${String(reply.ok?.uid)})`);
  return reply.ok ?? {};
}

function fetched(r: Record<string, unknown>): FetchResult {
  const { certs, problems } = readCerts(Buffer.from(String(r.certs ?? ''), 'base64'), { allowSecret: false });
  return { certs, problems, server: String(r.server), failures: [] };
}

/** Keyserver operations run as `account` (see the module comment). */
export function keyserverAsUser(servers: string[], account: Account, log: (message: string) => void = () => {}): KeyserverOps {
  return {
    async getByFingerprint(fpr: string): Promise<FetchResult> {
      return fetched(await call(account, { op: 'getByFingerprint', servers, arg: fpr }, log));
    },
    async getByKeyId(id: string): Promise<FetchResult> {
      return fetched(await call(account, { op: 'getByKeyId', servers, arg: id }, log));
    },
    async send(input): Promise<SendResult> {
      const bytes = input instanceof Uint8Array ? Buffer.from(input) : Buffer.concat(input.map((c) => Buffer.concat(c.packets.map((p) => p.raw))));
      const r = await call(account, { op: 'send', servers, arg: bytes.toString('base64') }, log);
      return {
        server: String(r.server),
        failures: [],
        sent: (r.sent as string[]) ?? [],
        problems: [],
        withheldSignatures: Number(r.withheldSignatures ?? 0),
        reply: String(r.reply ?? ''),
      };
    },
  };
}
