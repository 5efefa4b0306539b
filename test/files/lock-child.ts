/** One contender for test/files/lock.test.ts: takes the lock, logs its hold, holds it briefly. */
import { appendFileSync } from 'node:fs';
import { acquireLock } from '../../src/files/lock.js';

const [lockPath, logPath] = process.argv.slice(2);
const lock = await acquireLock(lockPath, { timeoutMs: 60_000 });
appendFileSync(logPath, `start ${process.pid}\n`);
await new Promise((r) => setTimeout(r, 30));
appendFileSync(logPath, `end ${process.pid}\n`);
lock.release();
