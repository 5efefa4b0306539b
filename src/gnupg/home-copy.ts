/**
 * Reading a GnuPG home that is not ours to change (the original Monkeysphere's keyrings,
 * when migrating from it): its data files are copied into a private temporary home and
 * gpg runs there, so gpg's lock files, trustdb checks and agent never touch the original,
 * and a home owned by another user (the 0.43 sphere belongs to the monkeysphere user)
 * cannot point us elsewhere: only regular files are copied, never through a symlink.
 * Its configuration is not copied: the exports need none, and it may name other keyrings.
 */
import { spawnSync } from 'node:child_process';
import { constants, closeSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError, errorMessage } from '../errors.js';
import { type Env, runGpg } from './gpg.js';

/** The keyring and trust files gpg 2.2 reads; private-keys-v1.d only when secrets are wanted. */
const DATA_FILES = ['pubring.kbx', 'pubring.gpg', 'trustdb.gpg'];
/** Larger keyring files are refused: a 0.43 keyring holds a server's users, not the world. */
const MAX_FILE = 256 * 1024 * 1024;

function copyRegularFile(from: string, to: string): boolean {
  let fd: number;
  try {
    fd = openSync(from, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'ELOOP') {
      // O_NOFOLLOW met a symlink: GnuPG never makes one here; whoever owns it may want to point us elsewhere.
      let owner = '';
      try {
        owner = ` owned by uid ${lstatSync(from).uid}`;
      } catch {
        // Gone meanwhile: the message stands without the owner.
      }
      throw new EnvironmentError('MS_MIGRATE_READ', `${JSON.stringify(from)} is a symbolic link${owner}, not a keyring file; it is not followed`, {
        cause: err,
        hints: ['replace it with the keyring file itself (or remove it), then run the command again; nothing was migrated and no authorized_keys file was changed'],
      });
    }
    throw new EnvironmentError('MS_MIGRATE_READ', `cannot read ${JSON.stringify(from)}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new EnvironmentError('MS_MIGRATE_READ', `${JSON.stringify(from)} is not a regular file`);
    if (st.size > MAX_FILE) throw new EnvironmentError('MS_MIGRATE_READ', `${JSON.stringify(from)} is larger than ${MAX_FILE} bytes`);
    writeFileSync(to, readFileSync(fd), { mode: 0o600 });
    return true;
  } finally {
    closeSync(fd);
  }
}

/** A private copy of a GnuPG home's data, removed (with any agent gpg started there) by dispose(). */
export class GnupgHomeCopy {
  private constructor(
    readonly original: string,
    readonly home: string,
    private readonly env: Env,
  ) {}

  /**
   * Copies `home`'s keyrings and trustdb (and its secret keys when `secrets`).
   * @throws EnvironmentError (MS_MIGRATE_READ) when a file cannot be read or is not a regular file.
   */
  static open(home: string, env: Env, opts: { secrets?: boolean } = {}): GnupgHomeCopy {
    const copy = mkdtempSync(join(env.TMPDIR || tmpdir(), 'ms-gnupg-'));
    try {
      for (const f of DATA_FILES) copyRegularFile(join(home, f), join(copy, f));
      if (opts.secrets) {
        const dir = join(home, 'private-keys-v1.d');
        mkdirSync(join(copy, 'private-keys-v1.d'), { mode: 0o700 });
        let names: string[] = [];
        try {
          names = readdirSync(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new EnvironmentError('MS_MIGRATE_READ', `cannot read ${JSON.stringify(dir)}: ${errorMessage(err)}`, { cause: err });
        }
        for (const n of names) if (/^[0-9A-F]{40}\.key$/.test(n)) copyRegularFile(join(dir, n), join(copy, 'private-keys-v1.d', n));
        copyRegularFile(join(home, 'secring.gpg'), join(copy, 'secring.gpg'));
      }
    } catch (err) {
      rmSync(copy, { recursive: true, force: true });
      throw err;
    }
    return new GnupgHomeCopy(home, copy, env);
  }

  /**
   * Runs gpg in the copy and returns its stdout.
   * @throws EnvironmentError (MS_MIGRATE_GPG) naming the original home.
   */
  gpg(args: readonly string[]): Buffer {
    try {
      return runGpg(this.env, this.home, ['--no-options', '--no-auto-check-trustdb', ...args]);
    } catch (err) {
      throw new EnvironmentError('MS_MIGRATE_GPG', `reading the GnuPG home ${JSON.stringify(this.original)}: ${errorMessage(err)}`, { cause: err });
    }
  }

  dispose(): void {
    spawnSync('gpgconf', ['--homedir', this.home, '--kill', 'gpg-agent'], { stdio: 'ignore', env: { ...this.env, LC_ALL: 'C' } });
    rmSync(this.home, { recursive: true, force: true });
  }
}

/** Runs `body` with a copy of `home`, always removing the copy. */
export function withGnupgHomeCopy<T>(home: string, env: Env, opts: { secrets?: boolean }, body: (copy: GnupgHomeCopy) => T): T {
  const copy = GnupgHomeCopy.open(home, env, opts);
  try {
    return body(copy);
  } finally {
    copy.dispose();
  }
}
