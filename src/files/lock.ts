/**
 * A lock file (like lockfile-progs' `lockfile-create`): created with O_EXCL and holding
 * the owner's PID; a lock whose process is gone is stale and taken over. Waiting is
 * bounded, so a stuck run never blocks the next one forever.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { TemporaryError } from '../errors.js';

export interface Lock {
  release(): void;
}

function holderAlive(path: string): boolean {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means the process exists but is not ours.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o644);
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Takes the lock at `path` (conventionally `<file>.lock`), waiting up to `timeoutMs`.
 * @throws TemporaryError (MS_LOCK_HELD) when another live process keeps holding it.
 */
export async function acquireLock(path: string, timeoutMs = 30_000): Promise<Lock> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    if (tryCreate(path)) break;
    if (!holderAlive(path)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new TemporaryError('MS_LOCK_HELD', `lock ${JSON.stringify(path)} is held by another process`, {
        hints: ['another monkeysphere run is in progress; try again later'],
      });
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  let released = false;
  return {
    release() {
      if (!released) rmSync(path, { force: true });
      released = true;
    },
  };
}

/**
 * Runs `body` holding a lock: the one at `path`, or the one `take` acquires (a store that
 * makes its directory first, say), released however `body` ends.
 */
export async function withLock<T>(lock: string | (() => Promise<Lock>), body: () => Promise<T>): Promise<T> {
  const held = typeof lock === 'string' ? await acquireLock(lock) : await lock();
  try {
    return await body();
  } finally {
    held.release();
  }
}
