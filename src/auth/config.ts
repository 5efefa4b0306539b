/**
 * Configuration and file layout of monkeysphere-authentication: the variables of
 * `monkeysphere-authentication.conf` (monkeysphere-authentication(8)), `%h`/`%u`
 * substitution, where the trust store, the core key and the generated authorized_keys
 * files live under $SYSDATADIR, and the reference time (with its test hook).
 * Not here: reading user files or the store.
 */
import { join } from 'node:path';
import { COMMON_VARS, configFiles, type Env, type LoadedConfig, loadConfig, type Schema, systemDirs } from '../config/config.js';

export const AUTH_VARS = {
  ...COMMON_VARS,
  AUTHORIZED_USER_IDS: { kind: 'string', default: '%h/.monkeysphere/authorized_user_ids' },
  RAW_AUTHORIZED_KEYS: { kind: 'string', default: '%h/.ssh/authorized_keys' },
  /**
   * An account's own identity certifiers, or `none`. Empty (the default): the file beside
   * authorized_user_ids, unless RAW_AUTHORIZED_KEYS is none (an admin who forbids users
   * their own keys forbids them their own certifiers too).
   */
  AUTHORIZED_CERTIFIERS: { kind: 'string', default: '' },
  /** Where keys-for-user logs each login decision: syslog[:FACILITY.PRIORITY], stderr, file:PATH or none. */
  LOGIN_LOG: { kind: 'string', default: 'syslog:authpriv.info' },
  /** Seconds keys-for-user may spend on the keyserver during a login (just-in-time lookup, freshness refresh); 0: never. */
  LOGIN_KEYSERVER_TIMEOUT: { kind: 'integer', default: 0 },
  /** Seconds a certificate that grants a login may go without the keyserver confirming it; 0: no bound. */
  REFRESH_MAX_AGE: { kind: 'integer', default: 0 },
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
  /** $SYSDATADIR/authentication/login-lookups (0770, group monkeysphere): when each account last triggered a login-time keyserver lookup. */
  loginLookupsDir: string;
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
    loginLookupsDir: join(dataDir, 'login-lookups'),
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

/** Per-request keyserver timeout for this tool: `MONKEYSPHERE_KEYSERVER_TIMEOUT` seconds, default 10. */
export function keyserverTimeoutMs(env: Env): number {
  const raw = env.MONKEYSPHERE_KEYSERVER_TIMEOUT;
  if (raw && /^\d+(\.\d+)?$/.test(raw) && Number(raw) > 0) return Math.round(Number(raw) * 1000);
  return 10_000;
}

/** The account certifiers file pattern in effect (see AUTHORIZED_CERTIFIERS), or `none`. */
export function accountCertifiersSetting(values: AuthConfig['values']): string {
  if (values.AUTHORIZED_CERTIFIERS !== '') return values.AUTHORIZED_CERTIFIERS;
  return values.RAW_AUTHORIZED_KEYS === 'none' ? 'none' : '%h/.monkeysphere/authorized_certifiers';
}
