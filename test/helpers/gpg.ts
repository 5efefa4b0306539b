/**
 * A throwaway GnuPG home for tests, with a frozen clock (--faked-system-time T!), so
 * gpg acts as the oracle at a fixed reference time. Removed by cleanup().
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** 2023-01-15T00:00:00Z, the project's default reference time for fixtures. */
export const REFERENCE_TIME = 1673740800;

export interface GpgResult {
  status: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export class GpgHome {
  readonly dir: string;

  constructor(
    /** Reference time, Unix seconds; gpg's clock is frozen there. */
    public now: number = REFERENCE_TIME,
    gpgConf = '',
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'ms-gpg-'));
    writeFileSync(join(this.dir, 'gpg.conf'), `no-auto-check-trustdb\n${gpgConf}`);
    writeFileSync(join(this.dir, 'gpg-agent.conf'), 'allow-loopback-pinentry\n');
  }

  /** Runs gpg with --batch, the frozen clock and this home; never throws on a non-zero exit. */
  run(args: string[], input?: string | Buffer): GpgResult {
    const r = spawnSync(
      'gpg',
      ['--homedir', this.dir, '--batch', '--no-tty', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', `--faked-system-time`, `${this.now}!`, ...args],
      { input, maxBuffer: 512 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' } },
    );
    if (r.error) throw r.error;
    return { status: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), stdoutBytes: r.stdout };
  }

  /** Like run(), but throws with gpg's stderr when gpg fails. */
  ok(args: string[], input?: string | Buffer): GpgResult {
    const r = this.run(args, input);
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r;
  }

  /** Colon listing records (`--with-colons --fixed-list-mode`), split into fields. */
  colons(args: string[]): string[][] {
    return this.ok(['--with-colons', '--fixed-list-mode', ...args]).stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.split(':'));
  }

  cleanup(): void {
    spawnSync('gpgconf', ['--homedir', this.dir, '--kill', 'all']);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
