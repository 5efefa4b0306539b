/**
 * A Monkeysphere-authenticated server for tests: its own $SYSCONFIGDIR/$SYSDATADIR and a
 * temp "home" holding authorized_user_ids, all in a directory sshd's StrictModes accepts;
 * monkeysphere-authentication run in-process; and logins through a real sshd that reads
 * either the generated authorized_keys file or asks the compiled
 * monkeysphere-authentication-keys-for-user (through a root-owned wrapper script).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { main } from '../../src/cli/monkeysphere-authentication.js';
import { runCli } from '../helpers/run-cli.js';
import { Sshd, secureTmpDir } from '../helpers/sshd.js';
import { NOW, type Person } from './pki.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIST_KFU = join(ROOT, 'dist/cli/monkeysphere-authentication-keys-for-user.js');
/** What the shims prefer (scripts/build.ts): rebuilt with dist/, so no test runs stale code. */
const BUNDLE_KFU = join(ROOT, 'dist/bundle/monkeysphere-authentication-keys-for-user.cjs');

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Builds (`npm run build`'s scripts/build.ts: dist/ and the command bundles) when the
 * keys-for-user command or its bundle is missing or older than any source, a shim or the
 * build script.
 */
export function ensureBuilt(): void {
  const newest = Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'bin')), statSync(join(ROOT, 'scripts/build.ts')).mtimeMs);
  const stale = [DIST_KFU, BUNDLE_KFU].some((f) => !existsSync(f) || statSync(f).mtimeMs < newest);
  if (!stale) return;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/build.ts')], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(DIST_KFU)) throw new Error(`build failed: ${r.stdout}${r.stderr}`);
}

export type Mode = 'file' | 'command';
export const MODES: Mode[] = ['file', 'command'];

export interface AuthServerOptions {
  /** Where the server's directory is made (default under ~/.cache): elsewhere when another account must reach it. */
  base?: string;
  /** The directory holding bin/ and dist/ that the keys-for-user wrapper runs (default this checkout). */
  programRoot?: string;
}

export class AuthServer {
  readonly root: string;
  readonly home: string;
  readonly env: Record<string, string>;
  readonly dataDir: string;
  private readonly programRoot: string;

  constructor(extraEnv: Record<string, string> = {}, opts: AuthServerOptions = {}) {
    this.root = secureTmpDir('ma-', opts.base);
    this.home = join(this.root, 'home');
    this.dataDir = join(this.root, 'var');
    this.programRoot = opts.programRoot ?? ROOT;
    mkdirSync(join(this.home, '.monkeysphere'), { recursive: true, mode: 0o755 });
    mkdirSync(join(this.root, 'etc'), { mode: 0o755 });
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MONKEYSPHERE_') && v !== undefined) base[k] = v;
    this.env = {
      ...base,
      MONKEYSPHERE_SYSCONFIGDIR: join(this.root, 'etc'),
      MONKEYSPHERE_SYSDATADIR: this.dataDir,
      MONKEYSPHERE_AUTHORIZED_USER_IDS: join(this.home, '.monkeysphere', 'authorized_user_ids'),
      MONKEYSPHERE_RAW_AUTHORIZED_KEYS: 'none',
      MONKEYSPHERE_CHECK_KEYSERVER: 'false',
      MONKEYSPHERE_PROMPT: 'false',
      MONKEYSPHERE_MONKEYSPHERE_USER: 'root',
      MONKEYSPHERE_TEST_NOW: String(NOW),
      ...extraEnv,
    };
  }

  get uidsFile(): string {
    return this.env.MONKEYSPHERE_AUTHORIZED_USER_IDS;
  }

  get authorizedKeysFile(): string {
    return join(this.dataDir, 'authorized_keys', 'root');
  }

  setNow(t: number): void {
    this.env.MONKEYSPHERE_TEST_NOW = String(t);
  }

  writeUserIds(text: string, mode = 0o644): void {
    writeFileSync(this.uidsFile, text);
    chmodSync(this.uidsFile, mode);
  }

  /** Runs monkeysphere-authentication in-process. */
  async run(argv: string[], stdin: string | Buffer = ''): Promise<RunResult> {
    const r = await runCli(main, argv, { stdin, env: { ...this.env }, cwd: this.root });
    return { status: r.code, stdout: r.text, stderr: r.stderr, stdoutBytes: r.stdout };
  }

  /** Like run(), but fails the test on a non-zero exit. */
  async ok(argv: string[], stdin: string | Buffer = ''): Promise<RunResult> {
    const r = await this.run(argv, stdin);
    if (r.status !== 0) throw new Error(`monkeysphere-authentication ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r;
  }

  async importCert(p: Person | Buffer): Promise<void> {
    await this.ok(['gpg-cmd', '--import'], Buffer.isBuffer(p) ? p : p.bytes);
  }

  async addCertifier(p: Person, opts: string[] = []): Promise<RunResult> {
    return this.ok(['add-id-certifier', ...opts, '-'], p.bytes);
  }

  /** A root-owned wrapper that runs the compiled keys-for-user with this server's environment (sshd passes none). */
  wrapper(): string {
    const dir = join(this.root, 'bin');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const path = join(dir, 'keys-for-user');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const vars = Object.entries(this.env)
      .filter(([k]) => k.startsWith('MONKEYSPHERE_'))
      .map(([k, v]) => `${k}=${q(v)}`);
    writeFileSync(path, `#!/bin/sh\nexec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ${vars.join(' ')} ${q(process.execPath)} ${q(join(this.programRoot, 'bin/monkeysphere-authentication-keys-for-user.js'))} "$@"\n`);
    chmodSync(path, 0o755);
    return path;
  }

  /** sshd_config lines for `mode`; the command runs as `commandUser` (AuthorizedKeysCommandUser). */
  sshdConfig(mode: Mode, commandUser = 'root', tokens = '%u'): string[] {
    if (mode === 'file') return [`AuthorizedKeysFile ${join(this.dataDir, 'authorized_keys')}/%u`];
    return ['AuthorizedKeysFile none', `AuthorizedKeysCommand ${this.wrapper()} ${tokens}`, `AuthorizedKeysCommandUser ${commandUser}`];
  }

  /**
   * Logs in as the current user with `person`'s authentication key through a fresh sshd
   * in `mode` (running update-users first in file mode), and runs `command`.
   */
  async login(
    mode: Mode,
    person: Person,
    command = 'true',
    opts: { sshArgs?: string[]; agentSocket?: string; commandUser?: string; tokens?: string } = {},
  ): Promise<{ status: number; stdout: string; stderr: string; sshdLog: string }> {
    if (mode === 'file') await this.run(['update-users', 'root']);
    const sshd = new Sshd({ config: this.sshdConfig(mode, opts.commandUser, opts.tokens) });
    let r: { status: number; stdout: string; stderr: string };
    try {
      await sshd.start();
      r = opts.sshArgs || opts.agentSocket ? sshWith(sshd, opts.agentSocket ? undefined : person.identityFile(), command, opts.sshArgs ?? [], opts.agentSocket) : sshd.ssh(person.identityFile(), command);
    } finally {
      await sshd.stop();
    }
    // ssh ran synchronously: sshd's log of the login is read only now, once sshd has exited.
    await new Promise((resolve) => setImmediate(resolve));
    return { ...r, sshdLog: sshd.log };
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** ssh as Sshd.ssh runs it, with extra client arguments (e.g. port forwarding). */
function sshWith(sshd: Sshd, identity: string | undefined, command: string, extra: string[], agentSocket?: string): { status: number; stdout: string; stderr: string } {
  const knownHosts = join(sshd.dir, 'known_hosts');
  const key = spawnSync('cat', [sshd.hostKeyPub]).stdout.toString().trim();
  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${key}\n`);
  const args = [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'PasswordAuthentication=no',
    '-o',
    'ConnectTimeout=10',
    '-p',
    String(sshd.port),
    ...(identity ? ['-o', 'IdentitiesOnly=yes', '-i', identity] : []),
    ...extra,
    `${sshd.user}@127.0.0.1`,
    command,
  ];
  const env = { ...process.env };
  if (agentSocket) env.SSH_AUTH_SOCK = agentSocket;
  else delete env.SSH_AUTH_SOCK;
  const r = spawnSync('ssh', args, { env, timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The monkeysphere system account, made as scripts/setup.sh makes it when missing. */
export function monkeysphereAccount(): { uid: number; gid: number } {
  if (spawnSync('getent', ['passwd', 'monkeysphere']).status !== 0) {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/var/lib/monkeysphere', '--shell', '/usr/sbin/nologin', 'monkeysphere']);
  }
  const [, , uid, gid] = execFileSync('getent', ['passwd', 'monkeysphere']).toString().split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Outside /root, so that the monkeysphere account can reach servers made there. */
export const SHARED_BASE = '/var/cache/monkeysphere-tests';

/**
 * A root-owned copy of bin/, dist/ and the production node_modules in `dir`, readable by
 * everyone: what scripts/setup.sh installs, for commands run as another account.
 */
export function installCopy(dir: string): void {
  mkdirSync(SHARED_BASE, { recursive: true, mode: 0o755 });
  chmodSync(SHARED_BASE, 0o755);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const root = ROOT.replace(/\/$/, '');
  for (const f of ['package.json', 'bin', 'dist']) cpSync(join(root, f), join(dir, f), { recursive: true });
  const prod = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root })
    .toString()
    .split('\n')
    .filter((p) => p.startsWith(`${root}/node_modules/`));
  for (const p of prod) {
    const to = join(dir, relative(root, p));
    mkdirSync(dirname(to), { recursive: true });
    cpSync(p, to, { recursive: true });
  }
  execFileSync('chmod', ['-R', 'go-w,a+rX', dir]);
}
