/**
 * A lock file (like lockfile-progs' `lockfile-create`): created with O_EXCL and holding
 * the owner's PID. A lock is stale when its process is gone, or when it is older than
 * `staleMs` (a PID can be reused after a crash; liblockfile ages locks out the same way);
 * anything but a regular file at the lock's path (a FIFO, a symlink) is stale too, and is
 * looked at without blocking or following it. A stale lock is taken over by renaming it
 * aside and checking that what moved is what was judged, so two waiters cannot both take
 * it. The holder touches its lock while it runs (as lockfile-touch), so a long run is not
 * taken for a stale one. Waiting is bounded, so a stuck run never blocks the next one forever.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, linkSync, lstatSync, openSync, readSync, renameSync, rmSync, utimesSync, writeSync } from 'node:fs';
import { EnvironmentError, TemporaryError } from '../errors.js';

export interface Lock {
  release(): void;
}

export interface LockOptions {
  /** How long to wait for a live holder (default 30 s). */
  timeoutMs?: number;
  /** A lock older than this is stale whatever its PID says (default 10 minutes). */
  staleMs?: number;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY;

/** What is at the lock's path: its inode and whether it is stale; undefined when nothing is there. */
function inspect(path: string, staleMs: number): { ino: number; stale: boolean } | undefined {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // A symbolic link (O_NOFOLLOW) is no lock this code made.
    if (code === 'ELOOP') return { ino: lstatSync(path).ino, stale: true };
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) {
      throw new EnvironmentError('MS_LOCK_INVALID', `lock ${JSON.stringify(path)} is a directory`, { hints: ['remove it; the lock is a file that monkeysphere creates and removes'] });
    }
    if (!st.isFile()) return { ino: st.ino, stale: true };
    if (Date.now() - st.mtimeMs > staleMs) return { ino: st.ino, stale: true };
    const buf = Buffer.alloc(32);
    const pid = Number.parseInt(buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('latin1').trim(), 10);
    return { ino: st.ino, stale: !processAlive(pid) };
  } finally {
    closeSync(fd);
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means the process exists but is not ours.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the stale lock `ino` at `path`, unless another waiter replaced it meanwhile. */
function takeOver(path: string, ino: number): void {
  const aside = `${path}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // another waiter took it over first
    throw err;
  }
  try {
    // Moved a lock that another waiter had just taken: put it back (link fails if yet another appeared).
    if (lstatSync(aside).ino !== ino) linkSync(aside, path);
  } catch {
    // The path is taken again either way; the next round looks at it.
  } finally {
    rmSync(aside, { force: true });
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Takes the lock at `path` (conventionally `<file>.lock`), waiting up to `timeoutMs`.
 * @throws TemporaryError (MS_LOCK_HELD) when another live process keeps holding it;
 * EnvironmentError (MS_LOCK_INVALID) when a directory sits at its path.
 */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<Lock> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const staleMs = opts.staleMs ?? 10 * 60_000;
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    if (tryCreate(path)) break;
    const found = inspect(path, staleMs);
    if (!found) continue;
    if (found.stale) {
      takeOver(path, found.ino);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new TemporaryError('MS_LOCK_HELD', `lock ${JSON.stringify(path)} is held by another process`, {
        hints: ['another monkeysphere run is in progress; try again later'],
      });
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  const touch = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // Gone or replaced: release() still removes only the path.
    }
  }, staleMs / 4);
  touch.unref();
  let released = false;
  return {
    release() {
      clearInterval(touch);
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
