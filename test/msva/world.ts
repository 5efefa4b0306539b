/**
 * The validation agent's test world: Bob's GnuPG home of the user tool's tests
 * (test/user/world.ts: Bob ultimately trusted, Alice certified by Bob, her ownertrust as
 * the test sets it), TLS keys and self-signed X.509 certificates made by openssl with its
 * clock at the keys' creation time (faketime), published as `https://host` OpenPGP
 * certificates by `monkeysphere-host import-key --certificate` (the README's steps), and
 * certified by Alice with src/openpgp/build.ts. Agents run as processes: ours (the built
 * `monkeysphere-validation-agent`) and Debian's `msva-perl` 0.9.2 on the same home; clients
 * are ours and Debian's `msva-query-agent`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dearmor } from '../../src/openpgp/armor.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { type Cert, readCerts, writeCert } from '../../src/openpgp/cert.js';
import { SigType } from '../../src/openpgp/signature.js';
import { CREATED, type Person } from '../auth/pki.js';
import { HostEnv } from '../host/harness.js';
import { NOW, World } from '../user/world.js';

export { CREATED, NOW };

const ROOT = new URL('../../', import.meta.url).pathname;
export const OUR_AGENT = join(ROOT, 'bin', 'monkeysphere-validation-agent.js');
export const OUR_QUERY = join(ROOT, 'bin', 'msva-query-agent.js');
export const ORIG_AGENT = '/usr/bin/msva-perl';
export const ORIG_QUERY = '/usr/bin/msva-query-agent';

export type TlsAlg = 'rsa' | 'p256' | 'p384' | 'ed25519';

/** A TLS server's key and self-signed certificate, as files and bytes. */
export interface TlsKey {
  dir: string;
  keyFile: string;
  certFile: string;
  keyPem: string;
  certPem: string;
  /** The certificate's DER, as a handshake presents it. */
  der: Buffer;
}

const NEWKEY: Record<TlsAlg, string[]> = {
  rsa: ['-newkey', 'rsa:2048'],
  p256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  ed25519: ['-newkey', 'ed25519'],
};

/** `date` for faketime: the keys' creation time, so notBefore = CREATED. */
const FAKETIME = `@${new Date(CREATED * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')}`;

function openssl(args: string[], opts: { at?: boolean; input?: string | Buffer } = {}): Buffer {
  const cmd = opts.at ? ['faketime', '-f', FAKETIME, 'openssl', ...args] : ['openssl', ...args];
  const r = spawnSync(cmd[0], cmd.slice(1), { input: opts.input, env: { ...process.env, TZ: 'UTC' } });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function tlsFiles(dir: string): TlsKey {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const certPem = readFileSync(certFile, 'utf8');
  return { dir, keyFile, certFile, keyPem: readFileSync(keyFile, 'utf8'), certPem, der: openssl(['x509', '-in', certFile, '-outform', 'DER']) };
}

/** A new key and a self-signed certificate for `cn`, made by openssl at CREATED (as `openssl req -x509` or certbot would). */
export function makeTlsKey(alg: TlsAlg, cn = 'www.example.org', extraArgs: string[] = []): TlsKey {
  const dir = mkdtempSync(join(tmpdir(), 'ms-tls-'));
  openssl(['req', '-x509', ...NEWKEY[alg], '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', `/CN=${cn}`, '-days', '7300', ...extraArgs], { at: true });
  return tlsFiles(dir);
}

/** A self-signed certificate (made at CREATED) for an existing key, e.g. a person's authentication subkey. */
export function certificateFor(key: KeyObject, cn = 'www.example.org'): TlsKey {
  const dir = mkdtempSync(join(tmpdir(), 'ms-tls-'));
  writeFileSync(join(dir, 'key.pem'), key.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  openssl(['req', '-x509', '-key', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', `/CN=${cn}`, '-days', '7300'], { at: true });
  return tlsFiles(dir);
}

/** The README's steps: `monkeysphere-host import-key --certificate CERT KEY https://…`; the public certificate it exports, and the host installation. */
export async function publishTlsKey(tls: TlsKey, serviceName: string): Promise<{ cert: Cert; host: HostEnv }> {
  const host = new HostEnv();
  host.now = NOW;
  await host.ok(['import-key', '--certificate', tls.certFile, tls.keyFile, serviceName]);
  const { certs } = readCerts(dearmor(readFileSync(host.pubFile)));
  if (certs.length !== 1) throw new Error(`host_keys.pub.pgp holds ${certs.length} certificates`);
  return { cert: certs[0], host };
}

/** `signer` certifies `userId` of `cert` (class 0x10, exportable), as Alice signing the site's key. */
export function certify(cert: Cert, userId: string, signer: Person, created = CREATED + 86400): Buffer {
  const user = cert.users.find((u) => u.text === userId);
  if (!user) throw new Error(`no user ID ${userId}`);
  const sig = signV4(
    { kind: 'user', primary: cert.primary, user: user.packet },
    { type: SigType.GenericCert, signer: signer.primary, privateKey: signer.privateKey, hashed: [sp.created(created), sp.issuerFingerprint(signer.primary)] },
  );
  // The certification after the user ID's self-signature: gpg merges it into what it holds.
  const raws: Buffer[] = [];
  for (const p of cert.packets) {
    raws.push(p.raw);
    if (p === user.signatures[user.signatures.length - 1]?.packet) raws.push(sig.packet.raw);
  }
  return Buffer.concat(raws);
}

export class MsvaWorld extends World {
  readonly hosts: HostEnv[] = [];
  readonly tls: TlsKey[] = [];

  /** A TLS key published as `serviceName` and imported into Bob's keyring, certified by `certifiers`. */
  async site(alg: TlsAlg, serviceName: string, certifiers: Person[] = [this.alice]): Promise<{ tls: TlsKey; cert: Cert; host: HostEnv }> {
    const tls = makeTlsKey(alg);
    this.tls.push(tls);
    const { cert, host } = await publishTlsKey(tls, serviceName);
    this.hosts.push(host);
    this.gpg.ok(['--import'], writeCert(cert));
    for (const c of certifiers) this.gpg.ok(['--import'], certify(cert, serviceName, c));
    this.gpg.ok(['--check-trustdb']);
    return { tls, cert, host };
  }

  /** `monkeysphere-host revoke-key` for the site's key, imported into Bob's keyring. */
  async revokeSite(host: HostEnv, fpr: string): Promise<void> {
    const r = await host.ok(['revoke-key', fpr]);
    this.gpg.ok(['--import'], r.stdout);
    this.gpg.ok(['--check-trustdb']);
  }

  /** The environment both agents run in, as Bob. */
  agentEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return this.env({ MSVA_KEYSERVER_POLICY: 'never', MSVA_LOG_LEVEL: 'error', ...extra });
  }

  override cleanup(): void {
    for (const h of this.hosts) rmSync(h.dir, { recursive: true, force: true });
    for (const t of this.tls) rmSync(t.dir, { recursive: true, force: true });
    super.cleanup();
  }
}

/** A temp file for a child's stderr: its descriptor, and a reader of its last 20,000 characters. */
function logFile(): { fd: number; read: () => string } {
  const dir = mkdtempSync(join(tmpdir(), 'ms-agent-log-'));
  const path = join(dir, 'stderr');
  const fd = openSync(path, 'w');
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return {
    fd,
    read: () => {
      try {
        return readFileSync(path, 'utf8').slice(-20_000);
      } catch {
        return '';
      }
    },
  };
}

export interface RunningAgent {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

/** Starts an agent (without a command) and reads the socket line it prints. */
export function startAgent(command: string[], env: NodeJS.ProcessEnv): Promise<RunningAgent> {
  // stderr goes to a file: a test blocked in spawnSync (a client) would not drain a pipe, and a full pipe stops the agent.
  const log = logFile();
  const child = spawn(command[0], command.slice(1), { env, stdio: ['ignore', 'pipe', log.fd], detached: true });
  closeSync(log.fd);
  let out = '';
  const err = log.read;
  const stop = () => stopGroup(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`agent did not start: ${err()}`));
    }, 30_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const m = /MONKEYSPHERE_VALIDATION_AGENT_SOCKET=(http:\/\/127\.0\.0\.1:\d+);/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child, stderr: err, stop });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited ${code}: ${err()}`));
    });
  });
}

export function startOurAgent(env: NodeJS.ProcessEnv): Promise<RunningAgent> {
  return startAgent([process.execPath, OUR_AGENT], env);
}

/** A port nothing listens on now (msva-perl's own socket line sits in Perl's stdout buffer, so the test names the port). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Debian's msva-perl on a free port, answering once GET / does. */
export async function startOriginalAgent(env: NodeJS.ProcessEnv): Promise<RunningAgent> {
  const port = await freePort();
  // msva-perl warns (perl -w) once per file descriptor of every process it scans after a refusal: to a file.
  const log = logFile();
  const child = spawn(ORIG_AGENT, [], { env: { ...env, MSVA_LOG_LEVEL: 'silent', MSVA_PORT: String(port) }, stdio: ['ignore', 'ignore', log.fd], detached: true });
  closeSync(log.fd);
  const err = log.read;
  const url = `http://127.0.0.1:${port}`;
  const agent: RunningAgent = {
    url,
    child,
    stderr: err,
    stop: () => stopGroup(child),
  };
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`msva-perl exited ${child.exitCode}: ${err()}`);
    try {
      const res = await fetch(`${url}/`);
      await res.text();
      if (res.status === 200) return agent;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await agent.stop();
  throw new Error(`msva-perl did not start: ${err()}`);
}

export interface QueryResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client: `msva-query-agent ARGS < stdin` against the agent at `url`. */
export function query(client: 'ours' | 'original', url: string, args: string[], stdin?: string | Buffer): QueryResult {
  const cmd = client === 'ours' ? [process.execPath, OUR_QUERY] : [ORIG_QUERY];
  const r = spawnSync(cmd[0], [...cmd.slice(1), ...args], {
    input: stdin ?? '',
    env: { PATH: process.env.PATH, MONKEYSPHERE_VALIDATION_AGENT_SOCKET: url },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** POSTs a body to the agent and returns the status and the parsed JSON (or text). */
export async function post(url: string, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** Stops an agent started in its own process group, with what it forked (msva-perl forks a worker per request). */
function stopGroup(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
  });
}
