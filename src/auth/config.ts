/**
 * Configuration and file layout of monkeysphere-authentication: the variables of
 * `monkeysphere-authentication.conf` (monkeysphere-authentication(8)), `%h`/`%u`
 * substitution, where the trust store, the core key and the generated authorized_keys
 * files live under $SYSDATADIR, and the reference time (with its test hook).
 * Not here: reading user files or the store.
 */
import { join } from 'node:path';
import { COMMON_VARS, configFiles, type Env, type LoadedConfig, loadConfig, type Schema, systemDirs } from '../config/config.js';
import { UsageError } from '../errors.js';

export const AUTH_VARS = {
  ...COMMON_VARS,
  AUTHORIZED_USER_IDS: { kind: 'string', default: '%h/.monkeysphere/authorized_user_ids' },
  RAW_AUTHORIZED_KEYS: { kind: 'string', default: '%h/.ssh/authorized_keys' },
} as const satisfies Schema;

export type AuthConfig = LoadedConfig<typeof AUTH_VARS>;

/** Loads the configuration: env `MONKEYSPHERE_<VAR>` > the config file > defaults. */
export function loadAuthConfig(env: Env): AuthConfig {
  return loadConfig(AUTH_VARS, { env, files: configFiles('monkeysphere-authentication', env) });
}

/** Where monkeysphere-authentication keeps its state. */
export interface AuthPaths {
  sysDataDir: string;
  /** $SYSDATADIR/authentication (0750). */
  dataDir: string;
  /** The SQLite store: certificates, certifiers, verification cache, precomputed bindings. */
  store: string;
  /** $SYSDATADIR/authentication/core (0700, root only). */
  coreDir: string;
  /** The trust core's secret key (binary OpenPGP, 0600). */
  coreKey: string;
  /** Lock against concurrent changes (update-users, certifier changes, imports). */
  lock: string;
  /** $SYSDATADIR/authorized_keys: one file per account. */
  authorizedKeysDir: string;
}

export function authPaths(env: Env): AuthPaths {
  const { sysDataDir } = systemDirs(env);
  const dataDir = join(sysDataDir, 'authentication');
  const coreDir = join(dataDir, 'core');
  return {
    sysDataDir,
    dataDir,
    store: join(dataDir, 'store.sqlite'),
    coreDir,
    coreKey: join(coreDir, 'core-secret.pgp'),
    lock: join(dataDir, 'lock'),
    authorizedKeysDir: join(sysDataDir, 'authorized_keys'),
  };
}

/**
 * sshd-style path tokens: `%h` the account's home, `%u` its name, `%%` a percent sign.
 * Unlike the original (which replaced each token once), every occurrence is replaced,
 * as sshd does for AuthorizedKeysFile.
 */
export function translateSshVariables(pattern: string, user: { name: string; home: string }): string {
  return pattern.replace(/%[hu%]/g, (t) => (t === '%h' ? user.home : t === '%u' ? user.name : '%'));
}

/**
 * The test hook for the reference time: `MONKEYSPHERE_TEST_NOW` (an ISO 8601 time such
 * as `2023-01-15T00:00:00Z`, or Unix seconds) replaces the clock for every validity
 * decision and for the MonkeySphere marker. Meant for tests only; never set it on a
 * real system, since it freezes expiry.
 * @throws UsageError (MS_AUTH_TEST_NOW) when the value is not a time.
 */
export function referenceTime(env: Env, clock: () => Date = () => new Date()): Date {
  const raw = env.MONKEYSPHERE_TEST_NOW;
  if (raw === undefined || raw === '') return clock();
  const d = /^\d+$/.test(raw) ? new Date(Number(raw) * 1000) : new Date(raw);
  if (Number.isNaN(d.getTime())) {
    throw new UsageError('MS_AUTH_TEST_NOW', `MONKEYSPHERE_TEST_NOW is not a time: ${JSON.stringify(raw)}`, {
      hints: ['use an ISO 8601 time such as 2023-01-15T00:00:00Z, or Unix seconds'],
    });
  }
  return d;
}

/** Per-request keyserver timeout for this tool: `MONKEYSPHERE_KEYSERVER_TIMEOUT` seconds, default 10. */
export function keyserverTimeoutMs(env: Env): number {
  const raw = env.MONKEYSPHERE_KEYSERVER_TIMEOUT;
  if (raw && /^\d+(\.\d+)?$/.test(raw) && Number(raw) > 0) return Math.round(Number(raw) * 1000);
  return 10_000;
}
