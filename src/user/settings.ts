/**
 * Configuration of `monkeysphere`, the user's tool (behaviour inventory §1): the variables
 * of /etc/monkeysphere/monkeysphere.conf and ~/.monkeysphere/monkeysphere.conf, with the
 * original's precedence (`MONKEYSPHERE_<VAR>` > user file > system file > default), the
 * environment-only variables, and where the GnuPG home and the keyserver come from.
 * Not here: reading the keyring or writing files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { COMMON_VARS, configFiles, type Env, type LoadedConfig, loadConfig, type Schema } from '../config/config.js';
import { DEFAULT_KEYSERVER } from '../keyserver/url.js';

/** The user's home: $HOME, else the password database's. */
export function userHome(env: Env): string {
  return env.HOME || homedir();
}

/** The variables of monkeysphere.conf; GNUPGHOME falls back to $GNUPGHOME, then ~/.gnupg. */
export function userVars(env: Env) {
  const home = userHome(env);
  return {
    LOG_LEVEL: COMMON_VARS.LOG_LEVEL,
    // Empty: gpg.conf's (or dirmngr.conf's) keyserver, else the project's default.
    KEYSERVER: { kind: 'string', default: '' },
    CHECK_KEYSERVER: COMMON_VARS.CHECK_KEYSERVER,
    STRICT_MODES: COMMON_VARS.STRICT_MODES,
    PROMPT: COMMON_VARS.PROMPT,
    GNUPGHOME: { kind: 'string', default: join(home, '.gnupg'), fallbackEnv: ['GNUPGHOME'] },
    KNOWN_HOSTS: { kind: 'string', default: join(home, '.ssh', 'known_hosts') },
    HASH_KNOWN_HOSTS: { kind: 'boolean', default: false },
    AUTHORIZED_KEYS: { kind: 'string', default: join(home, '.ssh', 'authorized_keys') },
    /** Seconds a per-connection keyserver lookup may take (ssh-proxycommand, known-hosts-command, keys-for-userid); not in 0.43. */
    KEYSERVER_TIMEOUT: { kind: 'integer', default: 10 },
  } as const satisfies Schema;
}

export type UserConfig = LoadedConfig<ReturnType<typeof userVars>>;

export interface UserSettings {
  config: UserConfig['values'];
  sources: UserConfig['sources'];
  problems: UserConfig['problems'];
  /** ${MONKEYSPHERE_HOME:-~/.monkeysphere}. */
  monkeysphereHome: string;
  /** MONKEYSPHERE_AUTHORIZED_USER_IDS, else ~/.monkeysphere/authorized_user_ids. */
  authorizedUserIds: string;
  /** The keyserver to ask (KEYSERVER, else the GnuPG home's, else the default). */
  keyserver: string;
  /** MONKEYSPHERE_SUBKEYS_FOR_AGENT, split on whitespace. */
  subkeysForAgent: string[];
}

/** Loads the user's configuration. @throws EnvironmentError (MS_CONFIG_UNREADABLE) for an unreadable config file. */
export function loadUserSettings(env: Env): UserSettings {
  const home = userHome(env);
  const loaded = loadConfig(userVars(env), { env, files: configFiles('monkeysphere', env, home) });
  const monkeysphereHome = env.MONKEYSPHERE_HOME || join(home, '.monkeysphere');
  return {
    config: loaded.values,
    sources: loaded.sources,
    problems: loaded.problems,
    monkeysphereHome,
    authorizedUserIds: env.MONKEYSPHERE_AUTHORIZED_USER_IDS || join(monkeysphereHome, 'authorized_user_ids'),
    keyserver: loaded.values.KEYSERVER || gnupgKeyserver(loaded.values.GNUPGHOME) || DEFAULT_KEYSERVER,
    subkeysForAgent: (env.MONKEYSPHERE_SUBKEYS_FOR_AGENT ?? '').split(/\s+/).filter((s) => s !== ''),
  };
}

/**
 * The last `keyserver` line of the GnuPG home's gpg.conf (as the original reads it), else of
 * dirmngr.conf (where GnuPG 2.1 and later keep it); undefined when neither names one.
 */
export function gnupgKeyserver(gnupgHome: string): string | undefined {
  for (const file of ['gpg.conf', 'dirmngr.conf']) {
    const path = join(gnupgHome, file);
    if (!existsSync(path)) continue;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    const servers = [...text.matchAll(/^[ \t]*keyserver[ \t]+(\S+)/gm)].map((m) => m[1]);
    if (servers.length > 0) return servers[servers.length - 1];
  }
  return undefined;
}
