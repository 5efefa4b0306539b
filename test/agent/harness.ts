/**
 * Real agents for the agent tests: a throwaway GnuPG home whose gpg-agent asks a test
 * pinentry (a small script set as pinentry-program, so the production path, the agent's
 * own pinentry, is what runs) for the passphrase of protected keys, and a real ssh-agent
 * on its own socket. Everything started here is stopped by cleanup().
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GpgHome } from '../helpers/gpg.js';

export const PASSPHRASE = 'correct horse battery staple';

/** A pinentry speaking just enough of the protocol: logs each command, answers GETPIN from a file. */
const PINENTRY = `#!/bin/sh
dir=$(dirname "$0")
echo "OK Pleased to meet you"
while IFS= read -r line; do
  printf '%s\\n' "$line" >> "$dir/pinentry.log"
  case "$line" in
    GETPIN*)
      pass=$(cat "$dir/pinentry.pass")
      if [ "$pass" = CANCEL ]; then echo "ERR 83886179 Operation cancelled <Pinentry>"; else echo "D $pass"; echo OK; fi;;
    BYE*) echo OK; exit 0;;
    *) echo OK;;
  esac
done
`;

/** An ssh-askpass that refuses (exit 1) and records that it was asked. */
const ASKPASS_NO = `#!/bin/sh
echo "$*" >> "$(dirname "$0")/askpass.log"
exit 1
`;

export class AgentWorld {
  readonly gpg: GpgHome;
  readonly sshSock: string;
  private sshAgent?: ChildProcess;

  constructor() {
    // GpgHome freezes gpg's clock for its listings; an hour ahead, so that keys made later
    // by the code under test (with the real clock) are not "created in the future".
    this.gpg = new GpgHome(Math.floor(Date.now() / 1000) + 3600);
    writeFileSync(join(this.gpg.dir, 'pinentry.sh'), PINENTRY, { mode: 0o755 });
    writeFileSync(join(this.gpg.dir, 'askpass-no.sh'), ASKPASS_NO, { mode: 0o755 });
    writeFileSync(join(this.gpg.dir, 'gpg-agent.conf'), `pinentry-program ${join(this.gpg.dir, 'pinentry.sh')}\nallow-loopback-pinentry\n`);
    this.setPassphrase(PASSPHRASE);
    this.sshSock = join(this.gpg.dir, 'ssh-agent.sock');
  }

  get home(): string {
    return this.gpg.dir;
  }

  /** What the pinentry answers to GETPIN next ("CANCEL" makes it cancel). */
  setPassphrase(p: string): void {
    writeFileSync(join(this.gpg.dir, 'pinentry.pass'), p);
  }

  /** The commands gpg-agent sent the pinentry so far. */
  pinentryLog(): string {
    const f = join(this.gpg.dir, 'pinentry.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  askpassLog(): string {
    const f = join(this.gpg.dir, 'askpass.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** gpg with this home and a passphrase given on the command line (loopback), for making keys. */
  gpgWithPassphrase(args: string[], passphrase = PASSPHRASE): string {
    const r = spawnSync('gpg', ['--homedir', this.home, '--batch', '--no-tty', '--yes', '--pinentry-mode', 'loopback', '--passphrase', passphrase, ...args], {
      env: { ...process.env, LC_ALL: 'C' },
    });
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.toString();
  }

  /** Makes a protected primary key for `uid` and returns its fingerprint. */
  makeKey(uid: string, algo = 'ed25519', usage = 'sign'): string {
    this.gpgWithPassphrase(['--quick-gen-key', uid, algo, usage, '0']);
    return this.fpr(uid);
  }

  fpr(who: string): string {
    return this.gpg.colons(['--list-keys', who]).find((r) => r[0] === 'fpr')![9];
  }

  /** gpg's own view of a certificate's keys (the oracle): fingerprint, keygrip, algorithm, usage, validity. */
  keys(who: string): Array<{ type: string; fpr: string; grip: string; algo: string; usage: string; validity: string }> {
    const out: Array<{ type: string; fpr: string; grip: string; algo: string; usage: string; validity: string }> = [];
    for (const r of this.gpg.colons(['--with-keygrip', '--list-keys', who])) {
      if (r[0] === 'pub' || r[0] === 'sub') out.push({ type: r[0], fpr: '', grip: '', algo: r[3], usage: r[11], validity: r[1] });
      else if (r[0] === 'fpr' && out.length) out[out.length - 1].fpr ||= r[9];
      else if (r[0] === 'grp' && out.length) out[out.length - 1].grip ||= r[9];
    }
    return out;
  }

  /** Adds a subkey (protected by the key's passphrase, given by loopback) and returns its fingerprint. */
  addSubkey(primaryFpr: string, algo: string, usage: string, expire = '0'): string {
    const before = new Set(this.keys(primaryFpr).map((k) => k.fpr));
    this.gpgWithPassphrase(['--quick-add-key', primaryFpr, algo, usage, expire]);
    return this.keys(primaryFpr).find((k) => !before.has(k.fpr))!.fpr;
  }

  /** `gpg --export-ssh-key FPR!`: the subkey's SSH line (type and base64). */
  sshLine(fpr: string): string {
    return this.gpg.ok(['--export-ssh-key', `${fpr}!`]).stdout.trim().split(' ').slice(0, 2).join(' ');
  }

  /** Starts a real ssh-agent on sshSock (in the foreground, -D, so it is ours to stop). */
  async startSshAgent(env: NodeJS.ProcessEnv = {}): Promise<void> {
    this.sshAgent = spawn('ssh-agent', ['-D', '-a', this.sshSock], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    for (let i = 0; i < 100 && !existsSync(this.sshSock); i++) await new Promise((r) => setTimeout(r, 20));
    if (!existsSync(this.sshSock)) throw new Error('ssh-agent did not start');
  }

  async stopSshAgent(): Promise<void> {
    const p = this.sshAgent;
    this.sshAgent = undefined;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
  }

  /** `ssh-add -l`/`-L` against our ssh-agent: status and output. */
  sshAdd(flag: string): { status: number; out: string } {
    const r = spawnSync('ssh-add', [flag], { env: { ...process.env, SSH_AUTH_SOCK: this.sshSock } });
    return { status: r.status ?? -1, out: r.stdout.toString() + r.stderr.toString() };
  }

  /** The environment a command run against these agents sees. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, GNUPGHOME: this.home, SSH_AUTH_SOCK: this.sshSock, LC_ALL: 'C', ...extra };
    delete env.GPG_TTY;
    delete env.DISPLAY;
    return env;
  }

  async cleanup(): Promise<void> {
    await this.stopSshAgent();
    this.gpg.cleanup();
  }
}

