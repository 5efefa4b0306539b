/**
 * Our keyserver on loopback for tests: an HkpServer over a store (a fresh SQLite file, or a
 * PostgreSQL URL), with a fixed reference time, stopped by stop(). `ks` is the keyserver
 * service (src/server/keyserver.ts) the server runs on.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UnixTime } from '../../src/clock.js';
import { HkpServer, type HkpServerOptions } from '../../src/hkp/index.js';
import { Keyserver, type IngestPolicy } from '../../src/server/keyserver.js';
import { openStore, type Store } from '../../src/store/index.js';
import { type GpgHome, type GpgResult, REFERENCE_TIME } from '../helpers/gpg.js';

/** The server's reference time: a day after gpg's frozen clock in the tests, so keys made at REFERENCE_TIME are not from the future. */
export const NOW: UnixTime = REFERENCE_TIME + 86400;

export class TestServer {
  private constructor(
    readonly server: HkpServer,
    readonly ks: Keyserver,
    readonly store: Store,
    readonly port: number,
    private readonly dir?: string,
  ) {}

  /** `hkp://127.0.0.1:PORT`, for gpg and our client. */
  get url(): string {
    return `hkp://127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:PORT`, for fetch. */
  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts a server on a fresh SQLite store, or on `location` (a PostgreSQL URL or a file). */
  static async start(opts: { location?: string; now?: () => UnixTime; policy?: Partial<IngestPolicy> } & Partial<Omit<HkpServerOptions, 'ks'>> = {}): Promise<TestServer> {
    const dir = opts.location ? undefined : mkdtempSync(join(tmpdir(), 'ms-hkp-'));
    const store = await openStore(opts.location ?? join(dir as string, 'keyserver.sqlite'));
    const ks = await Keyserver.open(store, opts.policy);
    const server = new HkpServer({ now: () => NOW, uploadRate: false, version: 'test', ...opts, ks });
    const addr = await server.listen(0, '127.0.0.1');
    return new TestServer(server, ks, store, addr.port, dir);
  }

  async stop(): Promise<void> {
    await this.server.close(1000);
    await this.store.close();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Runs gpg as GpgHome.run does, but without blocking the event loop: the server under test
 * runs in this process and must answer gpg's dirmngr meanwhile.
 */
export function gpgAsync(home: GpgHome, args: string[], input?: string | Buffer): Promise<GpgResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'gpg',
      ['--homedir', home.dir, '--batch', '--no-tty', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--faked-system-time', `${home.now}!`, ...args],
      { env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (status) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ status: status ?? -1, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
    child.stdin.end(input);
  });
}

/** Like gpgAsync, but throws with gpg's stderr when gpg fails. */
export async function gpgOk(home: GpgHome, args: string[], input?: string | Buffer): Promise<GpgResult> {
  const r = await gpgAsync(home, args, input);
  if (r.status !== 0) throw new Error(`gpg ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}
