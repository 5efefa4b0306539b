/**
 * Running gpg against a GnuPG home for its machine-readable exports (never its
 * human-readable output), in the C locale.
 */
import { spawnSync } from 'node:child_process';
import { EnvironmentError } from '../errors.js';

export type Env = Record<string, string | undefined>;

/**
 * Runs `gpg --homedir HOME --batch --no-tty ARGS` and returns its stdout.
 * @throws EnvironmentError (MS_WOT_GPG) when gpg cannot run or fails.
 */
export function runGpg(env: Env, home: string, args: readonly string[]): Buffer {
  const r = spawnSync('gpg', ['--homedir', home, '--batch', '--no-tty', ...args], { maxBuffer: 1024 * 1024 * 1024, env: { ...env, LC_ALL: 'C' } });
  if (r.error) {
    throw new EnvironmentError('MS_WOT_GPG', `cannot run gpg: ${r.error.message}`, { cause: r.error, hints: ['install GnuPG, or give --keyring and --ownertrust instead of --gnupg'] });
  }
  if (r.status !== 0) {
    throw new EnvironmentError('MS_WOT_GPG', `gpg ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.toString('utf8').trim().split('\n').pop() ?? ''}`);
  }
  return r.stdout;
}
