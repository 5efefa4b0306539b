/**
 * The cache behind web-of-trust computations: one SQLite database holding verified
 * signatures and snapshots of evaluated keyrings (src/gnupg/web.ts), by default under
 * $XDG_CACHE_HOME/monkeysphere. A cache that cannot be opened is not an error: the
 * computation then runs without one.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errorMessage } from '../errors.js';
import { SqliteDatabase, SqliteSnapshotStore, SqliteVerificationCache } from '../store/sqlite/index.js';
import { Verifier } from '../verify/verifier.js';
import type { Env } from './gpg.js';
import type { ComputeOptions } from './web.js';

/** $XDG_CACHE_HOME/monkeysphere/wot-verify.sqlite, else under ~/.cache; undefined without either. */
export function defaultWebCachePath(env: Env): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  return base ? join(base, 'monkeysphere', 'wot-verify.sqlite') : undefined;
}

export interface WebCache {
  database?: SqliteDatabase;
  close(): void;
}

/** Opens the cache at `path` (none when undefined); a failure is told to `onWarning` and leaves no cache. */
export function openWebCache(path: string | undefined, onWarning: (message: string) => void = () => {}): WebCache {
  if (!path) return { close() {} };
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const db = SqliteDatabase.open(path);
    return { database: db, close: () => db.close() };
  } catch (err) {
    onWarning(`cache ${JSON.stringify(path)} not used: ${errorMessage(err)}`);
    return { close() {} };
  }
}

/** Compute options over a cache: its snapshots, and a verifier (made only when packets need verifying) over its verification cache. */
export function cachedComputeOptions(cache: WebCache, onProblem?: ComputeOptions['onProblem']): ComputeOptions & { verifierMade(): Verifier | undefined } {
  const { database } = cache;
  let verifier: Verifier | undefined;
  return {
    snapshots: database && SqliteSnapshotStore.open(database),
    // Verification runs on libuv's thread pool (async node:crypto): no workers to start for one run.
    verifier: () => {
      verifier = new Verifier({ cache: database && new SqliteVerificationCache(database) });
      return verifier;
    },
    onProblem,
    verifierMade: () => verifier,
  };
}
