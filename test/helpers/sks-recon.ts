/**
 * A real SKS 1.1.6 node with reconciliation: `sks db` (HKP) and `sks recon` on one loopback
 * address (127.0.0.x), with a membership file and a gossip interval, in a temp directory,
 * started with an empty database and stopped by PID. For the recon interop test and the
 * fixture capture (test/fixtures/recon/capture.ts). test/helpers/sks.ts is the HKP-only one.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { armor } from '../../src/openpgp/armor.js';
import { freePort, stopChild } from './sks.js';

const SKS = '/usr/sbin/sks';

export interface SksReconOptions {
  /** Loopback address both services bind, and the address its outgoing recon binds. */
  readonly address: string;
  /** `host port` lines of the recon peers it accepts and gossips with. */
  readonly membership?: readonly string[];
  /** Minutes between gossips (SKS reads a float); undefined: the node never initiates. */
  readonly gossipMinutes?: number;
}

export class SksReconNode {
  private readonly children: ChildProcess[] = [];

  private constructor(
    readonly dir: string,
    readonly address: string,
    readonly hkpPort: number,
    readonly reconPort: number,
  ) {}

  get hkpBase(): string {
    return `http://${this.address}:${this.hkpPort}/pks`;
  }

  /** Builds an empty database, starts `sks db`, waits for HKP, then starts `sks recon` and waits for its port. */
  static async start(opts: SksReconOptions): Promise<SksReconNode> {
    const dir = mkdtempSync(join(tmpdir(), 'ms-sks-recon-'));
    for (const d of ['etc/sks', 'var/lib/sks/www', 'var/log/sks', 'var/run/sks', 'var/spool/sks', 'dump']) mkdirSync(join(dir, d), { recursive: true });
    const node = new SksReconNode(dir, opts.address, await freePort(), await freePort());
    const conf = [
      'hostname: localhost',
      `hkp_address: ${opts.address}`,
      `hkp_port: ${node.hkpPort}`,
      `recon_address: ${opts.address}`,
      `recon_port: ${node.reconPort}`,
      'disable_mailsync:',
      // The recovered hashes are logged in full, for failure messages.
      'debuglevel: 5',
      opts.gossipMinutes === undefined ? 'dontgossip:' : `gossip_interval: ${opts.gossipMinutes}`,
    ];
    writeFileSync(join(dir, 'etc/sks/sksconf'), `${conf.join('\n')}\n`);
    node.setMembership(opts.membership ?? []);
    try {
      const build = spawnSync(SKS, ['build', '-n', '10', '-cache', '100', '-basedir', dir], { cwd: dir, encoding: 'utf8' });
      if (build.error || build.status !== 0) throw new Error(`sks build failed (${build.status}): ${build.error?.message ?? ''}${build.stderr}`);
      const db = node.spawn('db');
      await node.waitFor(db, 'db', async () => {
        const res = await fetch(`${node.hkpBase}/lookup?op=index&options=mr&search=ready`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
      });
      const recon = node.spawn('recon');
      await node.waitFor(recon, 'recon', () => node.reconLog().includes('Starting event loop') ? Promise.resolve() : Promise.reject(new Error('not yet')));
      return node;
    } catch (err) {
      await node.stop();
      throw err;
    }
  }

  private spawn(what: 'db' | 'recon'): ChildProcess {
    const child = spawn(SKS, [what, '-basedir', this.dir], { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    this.children.push(child);
    return child;
  }

  private async waitFor(child: ChildProcess, what: string, probe: () => Promise<void>): Promise<void> {
    const until = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`sks ${what} exited (${child.exitCode ?? child.signalCode}): ${this.log(what).slice(-2000)}`);
      }
      try {
        await probe();
        return;
      } catch {
        // Not ready yet.
      }
      if (Date.now() > until) throw new Error(`sks ${what} not ready within 30 s: ${this.log(what).slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Rewrites the membership file (SKS reloads it when its mtime changes). */
  setMembership(lines: readonly string[]): void {
    writeFileSync(join(this.dir, 'etc/sks/membership'), lines.map((l) => `${l}\n`).join(''));
  }

  /** Uploads binary certificates through HKP (`/pks/add`), armored in one block. */
  async add(certs: readonly Buffer[]): Promise<void> {
    const res = await fetch(`${this.hkpBase}/add`, { method: 'POST', body: new URLSearchParams({ keytext: armor('PUBLIC KEY BLOCK', Buffer.concat(certs)) }) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`sks add: ${res.status} ${text}`);
  }

  /** The hash SKS reports for a fingerprint (`op=vindex&hash=on`), as 32 uppercase hex digits. */
  async hashOf(fpr: string): Promise<string> {
    const page = await (await fetch(`${this.hkpBase}/lookup?op=vindex&hash=on&search=0x${fpr}`)).text();
    const hash = /Hash=<a [^>]*>([0-9A-F]{32})<\/a>/.exec(page)?.[1];
    if (!hash) throw new Error(`sks reports no hash for ${fpr}`);
    return hash;
  }

  log(what: string): string {
    try {
      return readFileSync(join(this.dir, `var/log/sks/${what}.log`), 'utf8');
    } catch {
      try {
        return readFileSync(join(this.dir, `${what}.log`), 'utf8');
      } catch {
        return '';
      }
    }
  }

  reconLog(): string {
    return this.log('recon');
  }

  /** Waits until `sks recon` has put `n` keys in its prefix tree since start (its catchup runs every 5 s). */
  async waitForTreeSize(n: number, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.treeAdds() < n) {
      if (Date.now() > until) throw new Error(`sks recon on ${this.address} has ${this.treeAdds()} of ${n} keys after ${timeoutMs} ms:\n${this.reconLog().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** How many key changes `sks recon`'s catchup reported applying to its tree ("Added N hash-updates"). */
  treeAdds(): number {
    let n = 0;
    for (const m of this.reconLog().matchAll(/Added (\d+) hash-updates/g)) n += Number(m[1]);
    return n;
  }

  /** The hashes `sks db` logged adding ("Adding hash …"), uppercase hex: its element set, when nothing was deleted. */
  dbHashes(): Set<string> {
    return new Set([...this.log('db').matchAll(/Adding hash ([0-9A-F]{32})/g)].map((m) => m[1]));
  }

  /** Stops both processes by PID (SIGTERM, then SIGKILL after 5 s) and removes the directory. */
  async stop(): Promise<void> {
    await Promise.all(this.children.map(stopChild));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
