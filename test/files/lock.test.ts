/**
 * The lock file around known_hosts and the stores (src/files/lock.ts): a live holder makes
 * others wait (bounded), a stale one is taken over, whatever sits at the path (a FIFO, a
 * symlink, a reused PID) never hangs a run, and contenders never hold it at once.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EnvironmentError, TemporaryError } from '../../src/errors.js';
import { acquireLock } from '../../src/files/lock.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'ms-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `f${++n}.lock`);

/** A PID that is surely not running: a child that has exited. */
function deadPid(): number {
  return Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
}

describe('acquireLock', () => {
  test('a live holder keeps it: the next waits, then gets MS_LOCK_HELD; after release it is free', async () => {
    const path = fresh();
    const held = await acquireLock(path);
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
    await assert.rejects(acquireLock(path, { timeoutMs: 100 }), (e: unknown) => e instanceof TemporaryError && e.code === 'MS_LOCK_HELD');
    held.release();
    assert.equal(existsSync(path), false);
    (await acquireLock(path, { timeoutMs: 100 })).release();
  });

  test('a lock whose process is gone is taken over', async () => {
    const path = fresh();
    writeFileSync(path, `${deadPid()}\n`);
    const lock = await acquireLock(path, { timeoutMs: 100 });
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
    lock.release();
  });

  test('a live PID in an old lock (reused after a crash) is stale once the lock is older than staleMs', async () => {
    const path = fresh();
    writeFileSync(path, '1\n');
    await assert.rejects(acquireLock(path, { timeoutMs: 50 }), TemporaryError);
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(path, old, old);
    (await acquireLock(path, { timeoutMs: 50 })).release();
  });

  test('the holder touches its lock, so a long run does not look stale', async () => {
    const path = fresh();
    const lock = await acquireLock(path, { staleMs: 200 });
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    await new Promise((r) => setTimeout(r, 150));
    await assert.rejects(acquireLock(path, { timeoutMs: 50, staleMs: 200 }), TemporaryError);
    lock.release();
  });

  test('a FIFO or a symlink at the path is stale: never waited on, never followed', async () => {
    const fifo = fresh();
    execFileSync('mkfifo', [fifo]);
    (await acquireLock(fifo, { timeoutMs: 100 })).release();
    const link = fresh();
    const target = join(dir, 'precious');
    writeFileSync(target, 'keep me\n');
    symlinkSync(target, link);
    (await acquireLock(link, { timeoutMs: 100 })).release();
    assert.equal(readFileSync(target, 'utf8'), 'keep me\n');
  });

  test('a directory at the path is named, not removed', async () => {
    const path = fresh();
    mkdirSync(path);
    await assert.rejects(acquireLock(path, { timeoutMs: 50 }), (e: unknown) => e instanceof EnvironmentError && e.code === 'MS_LOCK_INVALID');
    assert.ok(existsSync(path));
  });

  test('contenders racing for a stale lock never hold it at once', async () => {
    const path = fresh();
    const log = join(dir, 'race.log');
    writeFileSync(path, `${deadPid()}\n`);
    writeFileSync(log, '');
    const children = Array.from({ length: 6 }, () => spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/files/lock-child.ts'), path, log], { cwd: ROOT, stdio: 'inherit' }));
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.on('exit', r))));
    assert.deepEqual(codes, codes.map(() => 0));
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(lines.length, 12);
    for (let i = 0; i < lines.length; i += 2) {
      const [start, pid] = lines[i].split(' ');
      assert.equal(start, 'start');
      assert.equal(lines[i + 1], `end ${pid}`, `held at once: ${lines.join(', ')}`);
    }
  });
});
