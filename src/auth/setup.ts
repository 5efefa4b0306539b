/**
 * `setup`: the directories under $SYSDATADIR, the store, and the trust core (made once,
 * kept in a root-only 0600 file, its public half in the store as the only root). Safe to
 * run again: it only fills in what is missing and repairs modes.
 * Not here: certifiers (certifiers.ts).
 */
import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs';
import { EnvironmentError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic.js';
import type { Account } from './accounts.js';
import type { AuthPaths } from './config.js';
import { type CoreKey, generateCore, loadCore } from './core.js';
import { AuthStore } from './store.js';

export interface SetupResult {
  core: CoreKey;
  /** True when this run made the core. */
  created: boolean;
  store: AuthStore;
}

function ensureDir(path: string, mode: number, group?: number): void {
  mkdirSync(path, { recursive: true, mode });
  chmodSync(path, mode);
  if (group !== undefined) chownSync(path, -1, group);
}

/**
 * Creates or repairs the layout and returns the open store and the core. `group` is the
 * monkeysphere user's group, given read access to the data directory when known.
 * @throws EnvironmentError (MS_AUTH_SETUP) when a directory or file cannot be made.
 */
export async function setup(paths: AuthPaths, now: number, monkeysphereUser?: Account): Promise<SetupResult> {
  try {
    ensureDir(paths.sysDataDir, 0o755);
    ensureDir(paths.dataDir, 0o750, monkeysphereUser?.gid);
    ensureDir(paths.coreDir, 0o700);
    ensureDir(paths.authorizedKeysDir, 0o755);
    // Written by keys-for-user as sshd's AuthorizedKeysCommandUser: group-writable for it.
    ensureDir(paths.loginLookupsDir, 0o770, monkeysphereUser?.gid);
  } catch (err) {
    throw new EnvironmentError('MS_AUTH_SETUP', `cannot create the data directories under ${JSON.stringify(paths.sysDataDir)}: ${(err as Error).message}`, {
      cause: err,
      hints: ['run monkeysphere-authentication as root'],
    });
  }
  const store = await AuthStore.open(paths.store);
  try {
    let created = false;
    let core: CoreKey;
    if (existsSync(paths.coreKey)) {
      core = loadCore(paths.coreKey);
    } else {
      const made = generateCore(now);
      writeFileAtomic(paths.coreKey, made.secret, { mode: 0o600 });
      core = made.core;
      created = true;
    }
    chmodSync(paths.coreKey, 0o600);
    for (const f of [paths.store, `${paths.store}-wal`, `${paths.store}-shm`]) {
      if (!existsSync(f)) continue;
      chmodSync(f, 0o640);
      if (monkeysphereUser) chownSync(f, -1, monkeysphereUser.gid);
    }
    const state = await store.state();
    if (state.coreFpr !== core.primary.fpr || (await store.serialOf(core.primary.fpr)) === undefined) {
      await store.putCerts([core.cert], now);
      await store.setCore(core.primary.fpr);
    }
    return { core, created, store };
  } catch (err) {
    await store.close();
    throw err;
  }
}
