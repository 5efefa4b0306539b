/**
 * A real unprivileged account on this machine for attacks by a local user: made with
 * useradd (tests run as root, as update-users does), with its home under a root-owned
 * 0755 directory that sshd's StrictModes accepts, and removed with its files afterwards.
 * Also a monkeysphere-authentication server configured to read that account's files.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthServer } from '../auth/harness.js';

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

export class LocalUser {
  readonly base: string;
  readonly name = `mssec${randomBytes(4).toString('hex')}`;
  readonly home: string;
  readonly uid: number;
  readonly gid: number;

  constructor() {
    mkdirSync('/var/lib', { recursive: true });
    this.base = mkdtempSync('/var/lib/ms-security-');
    chmodSync(this.base, 0o755);
    this.home = join(this.base, 'home');
    run('useradd', ['--no-create-home', '--home-dir', this.home, '--shell', '/bin/sh', '--user-group', this.name]);
    const id = (flag: string) => Number(spawnSync('id', [flag, this.name], { encoding: 'utf8' }).stdout.trim());
    this.uid = id('-u');
    this.gid = id('-g');
    this.mkdir('');
    this.mkdir('.ssh');
    this.mkdir('.monkeysphere');
  }

  /** A directory in the home, owned by the user, 0755. */
  mkdir(rel: string): string {
    const p = join(this.home, rel);
    mkdirSync(p, { recursive: true, mode: 0o755 });
    chownSync(p, this.uid, this.gid);
    chmodSync(p, 0o755);
    return p;
  }

  /** A file in the home, owned by the user. */
  write(rel: string, content: string | Buffer, mode = 0o644): string {
    const p = join(this.home, rel);
    rmSync(p, { recursive: true, force: true });
    writeFileSync(p, content, { mode });
    chownSync(p, this.uid, this.gid);
    chmodSync(p, mode);
    return p;
  }

  /** A symlink in the home (owned by the user, as one they made) pointing at `target`. */
  symlink(rel: string, target: string): string {
    const p = join(this.home, rel);
    try {
      if (lstatSync(p)) rmSync(p, { recursive: true, force: true });
    } catch {
      // absent
    }
    symlinkSync(target, p);
    spawnSync('chown', ['-h', `${this.uid}:${this.gid}`, p]);
    return p;
  }

  /** A root-only secret outside the home (mode 0600), like /etc/shadow or a host private key. */
  secret(name: string, content: string): string {
    const p = join(this.base, name);
    writeFileSync(p, content, { mode: 0o600 });
    chmodSync(p, 0o600);
    return p;
  }

  remove(): void {
    spawnSync('userdel', [this.name]);
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** A monkeysphere-authentication server whose user files are the account's own, as in a default install. */
export function userServer(env: Record<string, string> = {}): AuthServer {
  return new AuthServer({
    MONKEYSPHERE_AUTHORIZED_USER_IDS: '%h/.monkeysphere/authorized_user_ids',
    MONKEYSPHERE_RAW_AUTHORIZED_KEYS: '%h/.ssh/authorized_keys',
    ...env,
  });
}

export function authorizedKeysOf(server: AuthServer, user: LocalUser): string {
  return join(server.dataDir, 'authorized_keys', user.name);
}
