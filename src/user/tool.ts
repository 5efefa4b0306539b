/**
 * What every `monkeysphere` subcommand works with: the settings, the log, the reference
 * time, the user's GnuPG home and its user ID index (userid-index.ts, kept in the user's
 * cache store), and keyserver lookups that import into that home. Commands (src/cli/
 * monkeysphere.ts) word the results; the rules live in the modules this one calls.
 */
import { mkdirSync, type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { UserLog } from './ports.js';
import type { UnixTime } from '../clock.js';
import type { Env } from '../config/config.js';
import { EnvironmentError, errorMessage, MsError } from '../errors.js';
import { defaultWebCachePath, openWebCache, type WebCache } from '../gnupg/cache.js';
import type { UidCert } from './home-keys.js';
import type { UserSettings } from './settings.js';
import { userHome } from './settings.js';
import { openUserIdIndex, type UserIdIndex } from './userid-index.js';

/** Why the cache at `location` (a file path) may not be trusted, or undefined: someone else owns or may write it or its directory. */
export function unsafeCachePath(location: string): string | undefined {
  if (/^[a-z]+:\/\//i.test(location)) return undefined;
  const me = process.geteuid?.() ?? 0;
  for (const path of [dirname(location), location]) {
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (st.uid !== me && st.uid !== 0) return `'${path}' is owned by uid ${st.uid}`;
    if (st.mode & 0o022) return `'${path}' is writable by ${st.mode & 0o020 ? 'group' : 'others'}`;
  }
  return undefined;
}

export class UserTool {
  private cache: WebCache | undefined;
  private index: UserIdIndex | undefined;
  /** Set once a keyserver lookup imported something: the next lookup reads the keyring again. */
  private stale = false;

  constructor(
    readonly env: Env,
    readonly settings: UserSettings,
    readonly log: UserLog,
    readonly now: UnixTime,
  ) {}

  get gnupgHome(): string {
    return this.settings.config.GNUPGHOME;
  }

  get home(): string {
    return userHome(this.env);
  }

  /**
   * Creates the GnuPG home (0700) when missing, as the original does before anything else.
   * @throws EnvironmentError (MS_USER_GNUPG_HOME) when it cannot be made or is not a directory.
   */
  ensureGnupgHome(): void {
    try {
      mkdirSync(this.gnupgHome, { recursive: true, mode: 0o700 });
      if (!statSync(this.gnupgHome).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      throw new EnvironmentError('MS_USER_GNUPG_HOME', `cannot use the GnuPG home ${JSON.stringify(this.gnupgHome)}: ${errorMessage(err)}`, {
        cause: err,
        hints: ['set GNUPGHOME (or MONKEYSPHERE_GNUPGHOME) to your GnuPG home directory'],
      });
    }
  }

  private async userIds(): Promise<UserIdIndex> {
    if (!this.index || this.stale) {
      try {
        this.index = await openUserIdIndex(this.gnupgHome, this.now, { env: this.env, store: await this.cacheStore(), onWarning: (m) => this.log.verbose(m) });
      } catch (err) {
        if (!(err instanceof MsError) || err.message.includes(this.gnupgHome)) throw err;
        throw new EnvironmentError(err.code, `reading the GnuPG home ${JSON.stringify(this.gnupgHome)}: ${err.message}`, { cause: err, hints: err.hints });
      }
      this.stale = false;
      this.log.debug(`user IDs of ${this.gnupgHome}: ${this.index.from}`);
    }
    return this.index;
  }

  /**
   * The user's cache store, when it could be opened. It decides which keys ssh accepts, so
   * it is trusted like the keyring: a cache (or its directory) that someone else owns or
   * may write is not used.
   */
  async cacheStore() {
    if (!this.cache) {
      const location = this.env.MONKEYSPHERE_CACHE || defaultWebCachePath(this.env);
      const unsafe = location && unsafeCachePath(location);
      if (unsafe) this.log.info(`not using the cache ${location}: ${unsafe}`);
      this.cache = await openWebCache(unsafe ? undefined : location, (m) => this.log.debug(m));
    }
    return this.cache.store;
  }

  /** The certificates of the keyring carrying exactly `userId`, with their keys. */
  async certsFor(userId: string): Promise<UidCert[]> {
    return (await this.userIds()).lookup(userId);
  }

  /** Asks the keyserver for these user IDs and imports what it has (failures are logged). */
  async fetch(userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const { fetchUserIds } = await import('./fetch.js');
    const imported = await fetchUserIds(userIds, {
      keyserver: this.settings.keyserver,
      timeoutSeconds: this.settings.config.KEYSERVER_TIMEOUT,
      gnupgHome: this.gnupgHome,
      env: this.env,
      verbose: (m) => this.log.verbose(m),
      error: (m) => this.log.error(m),
    });
    if (imported > 0) this.stale = true;
  }

  async close(): Promise<void> {
    const cache = this.cache;
    this.cache = undefined;
    this.index = undefined;
    await cache?.close();
  }
}
