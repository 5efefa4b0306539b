/**
 * The cache behind web-of-trust computations: a store (src/store/, SQLite by default)
 * whose verification results and snapshots of evaluated keyrings (src/gnupg/web.ts) it
 * uses, by default under $XDG_CACHE_HOME/monkeysphere. A cache that cannot be opened is not
 * an error: the computation then runs without one. Light on purpose (ssh's per-connection
 * path opens it): what computes over it is in web.ts.
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errorMessage, MsError } from '../errors.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import type { Env } from './gpg.js';

/** $XDG_CACHE_HOME/monkeysphere/wot-verify.sqlite, else under ~/.cache; undefined without either. */
export function defaultWebCachePath(env: Env): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  return base ? join(base, 'monkeysphere', 'wot-verify.sqlite') : undefined;
}

export interface WebCache {
  store?: Store;
  close(): Promise<void>;
}

const NO_CACHE: WebCache = { close: async () => undefined };

/** Opens the cache at `location` (a path or a store URL; none when undefined); a failure is told to `onWarning` and leaves no cache. */
export async function openWebCache(location: string | undefined, onWarning: (message: string) => void = () => {}): Promise<WebCache> {
  if (!location) return NO_CACHE;
  const isFile = !/^[a-z]+:\/\//i.test(location);
  try {
    if (isFile) mkdirSync(dirname(location), { recursive: true, mode: 0o700 });
    const store = await openStore(location).catch(async (err: unknown) => {
      // Everything in a cache file can be recomputed: a damaged one is moved aside and made anew, once.
      if (!isFile || !(err instanceof MsError) || err.code !== 'MS_STORE_CORRUPT') throw err;
      const aside = `${location}.damaged`;
      renameSync(location, aside);
      for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${location}${suffix}`, { force: true });
      onWarning(`cache ${JSON.stringify(location)} was damaged (${errorMessage(err)}); moved to ${JSON.stringify(aside)} and made anew`);
      return openStore(location);
    });
    return { store, close: () => store.close() };
  } catch (err) {
    onWarning(`cache ${JSON.stringify(location)} not used: ${errorMessage(err)}`);
    return NO_CACHE;
  }
}
