/**
 * A real OpenSSH server for tests: Debian's sshd on a free loopback port, with its own
 * host key and config in a temp dir, public-key authentication only. Logins are made
 * with the real ssh client as the current user (root in CI).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * A temp directory that sshd's StrictModes accepts: under the user's home (not /tmp,
 * which is world-writable), mode 0755, removed by the caller.
 */
export function secureTmpDir(prefix = 'ms-', base = join(homedir(), '.cache', 'monkeysphere-tests')): string {
  mkdirSync(base, { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(base, prefix));
  chmodSync(dir, 0o755);
  return dir;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface SshdOptions {
  /** Extra sshd_config lines, e.g. `AuthorizedKeysFile /var/lib/monkeysphere/authorized_keys/%u`. */
  config: string[];
}

export class Sshd {
  readonly dir: string;
  port = 0;
  private proc?: ChildProcess;
  readonly user = userInfo().username;
  readonly hostKeyPub: string;
  log = '';

  constructor(private readonly opts: SshdOptions) {
    this.dir = secureTmpDir('sshd-');
    const hostKey = join(this.dir, 'host_ed25519');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    this.hostKeyPub = `${hostKey}.pub`;
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const cfg = join(this.dir, 'sshd_config');
    writeFileSync(
      cfg,
      [
        `ListenAddress 127.0.0.1:${this.port}`,
        `HostKey ${join(this.dir, 'host_ed25519')}`,
        'PidFile none',
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'PermitRootLogin prohibit-password',
        'StrictModes yes',
        'LogLevel VERBOSE',
        ...this.opts.config,
        '',
      ].join('\n'),
    );
    const check = spawnSync('/usr/sbin/sshd', ['-t', '-f', cfg]);
    if (check.status !== 0) throw new Error(`sshd config rejected: ${check.stderr}`);
    this.proc = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr?.on('data', (d) => {
      this.log += d.toString();
    });
    for (let i = 0; i < 100 && !this.log.includes('Server listening'); i++) await new Promise((r) => setTimeout(r, 50));
    if (!this.log.includes('Server listening')) throw new Error(`sshd did not start: ${this.log}`);
  }

  /**
   * Runs `ssh` with only the given identity (no agent unless `agentSocket`), accepting the
   * test host key, and returns the exit status and output. 255 means not authenticated.
   */
  ssh(identity: string | undefined, command: string, extra: { agentSocket?: string; timeoutMs?: number } = {}): { status: number; stdout: string; stderr: string } {
    const knownHosts = join(this.dir, 'known_hosts');
    const key = readFileSync(this.hostKeyPub, 'utf8').trim();
    writeFileSync(knownHosts, `[127.0.0.1]:${this.port} ${key}\n`);
    const args = [
      '-F', '/dev/null',
      '-o', 'BatchMode=yes',
      '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'PasswordAuthentication=no',
      '-o', 'ConnectTimeout=10',
      '-p', String(this.port),
      ...(identity ? ['-o', 'IdentitiesOnly=yes', '-i', identity] : []),
      `${this.user}@127.0.0.1`,
      command,
    ];
    const env = { ...process.env };
    if (extra.agentSocket) env.SSH_AUTH_SOCK = extra.agentSocket;
    else delete env.SSH_AUTH_SOCK;
    const r = spawnSync('ssh', args, { env, timeout: extra.timeoutMs ?? 30_000 });
    return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }

  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc?.once('exit', r));
      this.proc.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
