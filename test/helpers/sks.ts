/**
 * A real SKS 1.1.6 (`sks db`, HKP only, no recon) on loopback in a temp dir, started
 * with an empty database and stopped by PID. One per test file: start() in before(),
 * stop() in after().
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

const SKS = '/usr/sbin/sks';

/** A port nobody listens on right now (bound to 0 and released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Stops a child by PID: SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }, 5000);
  await exited;
  clearTimeout(timer);
}

export class SksServer {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  /** `hkp://127.0.0.1:PORT`, as a keyserver address for our client and for gpg. */
  get url(): string {
    return `hkp://127.0.0.1:${this.port}`;
  }

  /** Builds an empty database, starts `sks db` and waits until it answers HTTP. */
  static async start(): Promise<SksServer> {
    const dir = mkdtempSync(join(tmpdir(), 'ms-sks-'));
    for (const d of ['etc/sks', 'var/lib/sks/www', 'var/log/sks', 'var/run/sks', 'var/spool/sks', 'dump']) mkdirSync(join(dir, d), { recursive: true });
    const port = await freePort();
    const reconPort = await freePort();
    writeFileSync(
      join(dir, 'etc/sks/sksconf'),
      `hostname: localhost\nhkp_address: 127.0.0.1\nhkp_port: ${port}\nrecon_address: 127.0.0.1\nrecon_port: ${reconPort}\ndisable_mailsync:\n`,
    );
    writeFileSync(join(dir, 'etc/sks/membership'), '');
    const build = spawnSync(SKS, ['build', '-n', '10', '-cache', '100', '-basedir', dir], { cwd: dir, encoding: 'utf8' });
    if (build.error || build.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`sks build failed (${build.status}): ${build.error?.message ?? ''}${build.stderr}`);
    }
    const child = spawn(SKS, ['db', '-basedir', dir], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const server = new SksServer(dir, port, child);
    const until = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = server.log();
        server.removeDir();
        throw new Error(`sks db exited (${child.exitCode ?? child.signalCode}): ${stderr}\n${log.slice(-2000)}`);
      }
      try {
        const res = await fetch(`http://127.0.0.1:${port}/pks/lookup?op=index&options=mr&search=ready`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        return server;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > until) {
        const log = server.log();
        await server.stop();
        throw new Error(`sks db did not answer on port ${port} within 30 s: ${stderr}\n${log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The server's log (var/log/sks/db.log), for failure messages. */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'var/log/sks/db.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the process by PID (SIGTERM, then SIGKILL after 5 s) and removes the directory. */
  async stop(): Promise<void> {
    await stopChild(this.child);
    this.removeDir();
  }

  private removeDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** In a describe block: one SKS for its tests, started before them and stopped after; call the result for it. */
export function useSks(): () => SksServer {
  let sks: SksServer | undefined;
  before(async () => {
    sks = await SksServer.start();
  });
  after(async () => {
    await sks?.stop();
  });
  return () => {
    if (!sks) throw new Error('SKS is not running');
    return sks;
  };
}
