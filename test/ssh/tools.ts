/**
 * Test helpers: keys made by the real ssh-keygen and openssl in a throwaway directory,
 * and small wrappers that run those tools. Shared by the ssh, keytrans and host tests.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ToolResult {
  status: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** Runs a command; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], input?: string | Buffer, env: NodeJS.ProcessEnv = {}): ToolResult {
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C', TZ: 'UTC', ...env } });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), stdoutBytes: r.stdout };
}

/** Like run(), but throws with the tool's stderr on failure. */
export function ok(cmd: string, args: string[], input?: string | Buffer): ToolResult {
  const r = run(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

export type SshKeyKind = 'rsa' | 'ed25519' | 'ecdsa256' | 'ecdsa384' | 'ecdsa521' | 'dsa';

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'ms-keys-'));
  private n = 0;

  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * A key made by ssh-keygen. `format` is ssh-keygen's -m (default: its own OpenSSH
   * format); returns the private key path; the public line is at `${path}.pub`.
   */
  sshKeygen(kind: SshKeyKind, opts: { format?: 'PEM' | 'PKCS8'; passphrase?: string; comment?: string; bits?: number } = {}): string {
    const file = this.path(`k${this.n++}-${kind}`);
    const typeArgs =
      kind === 'rsa'
        ? ['-t', 'rsa', '-b', String(opts.bits ?? 2048)]
        : kind === 'ed25519'
          ? ['-t', 'ed25519']
          : kind === 'dsa'
            ? ['-t', 'dsa']
            : ['-t', 'ecdsa', '-b', kind.slice(5)];
    ok('ssh-keygen', ['-q', ...typeArgs, '-N', opts.passphrase ?? '', '-C', opts.comment ?? `test-${kind}`, ...(opts.format ? ['-m', opts.format] : []), '-f', file]);
    return file;
  }

  /** A key made by `openssl genpkey` (PKCS#8 PEM), or SEC1 via `openssl ecparam`. */
  openssl(kind: 'rsa' | 'ed25519' | 'p256' | 'p384' | 'sec1'): string {
    const file = this.path(`o${this.n++}-${kind}.pem`);
    if (kind === 'sec1') ok('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file]);
    else if (kind === 'rsa') ok('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file]);
    else if (kind === 'ed25519') ok('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', file]);
    else ok('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${kind === 'p256' ? 'P-256' : 'P-384'}`, '-out', file]);
    return file;
  }

  /** `type base64` of a `.pub` file, without the comment. */
  pubLine(privatePath: string): string {
    return readFileSync(`${privatePath}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The `SHA256:…` field of `ssh-keygen -lf FILE`. */
export function keygenFingerprint(file: string): string {
  return ok('ssh-keygen', ['-lf', file]).stdout.split(' ')[1];
}
