/**
 * `mkdir -p` without Node 20's recursive mkdirSync, which spins forever where the kernel
 * answers ENOENT for a directory it will not create (under /proc, say): each missing
 * component is made on its own, and any error but EEXIST is thrown.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export function makeDirectories(path: string, mode = 0o777): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      if (statSync(p).isDirectory()) break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw err;
      missing.push(p);
      continue;
    }
    throw Object.assign(new Error(`${p} is not a directory`), { code: 'ENOTDIR' });
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
