/**
 * A throwaway monkeysphere-host installation: its own SYSCONFIGDIR and SYSDATADIR,
 * PROMPT=false and CHECK_KEYSERVER=false unless a test says otherwise, a fixed clock,
 * and gpg (frozen clock) to look at what it wrote.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { type HostDeps, main } from '../../src/cli/monkeysphere-host.js';
import { GpgHome, REFERENCE_TIME } from '../helpers/gpg.js';
import { type CliResult, runCli } from '../helpers/run-cli.js';

export const T0 = REFERENCE_TIME;

export class HostEnv {
  readonly dir = mkdtempSync(join(tmpdir(), 'ms-host-'));
  readonly confDir = join(this.dir, 'etc');
  readonly dataDir = join(this.dir, 'var');
  /** The clock monkeysphere-host sees; tests move it forward. */
  now = T0;
  env: NodeJS.ProcessEnv;
  deps: HostDeps = {};

  constructor(env: NodeJS.ProcessEnv = {}) {
    mkdirSync(this.confDir);
    mkdirSync(this.dataDir);
    this.env = {
      MONKEYSPHERE_SYSCONFIGDIR: this.confDir,
      MONKEYSPHERE_SYSDATADIR: this.dataDir,
      MONKEYSPHERE_PROMPT: 'false',
      MONKEYSPHERE_CHECK_KEYSERVER: 'false',
      // Keyserver access as the invoking user, as the original's tests/basic does ($(whoami)).
      MONKEYSPHERE_MONKEYSPHERE_USER: userInfo().username,
      ...env,
    };
  }

  get pubFile(): string {
    return join(this.dataDir, 'host_keys.pub.pgp');
  }

  get keysDir(): string {
    return join(this.dataDir, 'host-keys');
  }

  run(argv: string[], opts: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
    return runCli((a, io) => main(a, io, { now: () => this.now, ...this.deps }), argv, { ...opts, env: { ...this.env, ...opts.env } });
  }

  /** Runs and fails the test unless it exits 0. */
  async ok(argv: string[], opts: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
    const r = await this.run(argv, opts);
    if (r.code !== 0) throw new Error(`monkeysphere-host ${argv.join(' ')} exited ${r.code}: ${r.stderr}${r.text}`);
    return r;
  }

  /** Every file of the data directory with its bytes and mode, to show nothing changed. */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else out[p] = `${(st.mode & 0o777).toString(8)}:${readFileSync(p).toString('base64')}`;
      }
    };
    walk(this.dataDir);
    return out;
  }

  /** The fingerprints of the stored host keys. */
  fingerprints(): string[] {
    try {
      return readdirSync(this.keysDir)
        .filter((n) => n.endsWith('.pgp'))
        .map((n) => n.slice(0, -4));
    } catch {
      return [];
    }
  }

  /** A fresh gpg (clock at `at`) with host_keys.pub.pgp imported. Call cleanup(). */
  gpgWithPubFile(at = this.now + 60): GpgHome {
    const gpg = new GpgHome(at);
    gpg.ok(['--import'], readFileSync(this.pubFile));
    return gpg;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** gpg's colon records for a key, with unusable user IDs shown. */
export function colons(gpg: GpgHome, fpr: string, what = '--list-keys'): string[][] {
  return gpg.colons([what, '--list-options', 'show-unusable-uids', fpr]);
}

/** gpg escapes ':' in colon listings. */
export const esc = (uid: string) => uid.replace(/:/g, '\\x3a');
