/**
 * Bulk import into the keyserver's SQLite store (src/server/bulk.ts), every signature
 * verified: a generated keyring of small certificates (test/helpers/flood.ts
 * `syntheticKeyring`: Ed25519, one user ID, certified by the two before it) and, when
 * installed, Debian's keyring (debian-keyring), with worker threads and without.
 * Prints certificates per second.
 *
 * Usage: node --import tsx bench/keyserver-import.bench.ts [--certs N] [--workers N] [--debian]
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { importFiles } from '../src/server/bulk.js';
import { Keyserver } from '../src/server/keyserver.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { FLOOD_NOW, syntheticKeyring } from '../test/helpers/flood.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
};
const CERTS = Number(arg('certs', '20000'));
const WORKERS = Number(arg('workers', String(Math.max(1, availableParallelism() - 1))));
const DEBIAN = '/usr/share/keyrings/debian-keyring.gpg';

const dir = mkdtempSync(join(tmpdir(), 'ms-bench-import-'));
try {
  const t0 = performance.now();
  const ring = join(dir, 'synthetic.pgp');
  writeFileSync(ring, syntheticKeyring(CERTS));
  console.log(`generated (or cached) ${CERTS} certificates in ${Math.round(performance.now() - t0)} ms`);
  const files: Array<[string, string]> = [['synthetic', ring]];
  if (process.argv.includes('--debian') && existsSync(DEBIAN)) files.push(['debian-keyring', DEBIAN]);
  for (const [name, file] of files) {
    for (const workers of [...new Set([WORKERS, 0])]) {
      const store = await SqliteStore.open(join(dir, `${name}-${workers}.sqlite`));
      const ks = await Keyserver.open(store);
      const t = performance.now();
      const cpu = process.cpuUsage();
      const r = await importFiles(ks, [file], { now: FLOOD_NOW, workers });
      const s = (performance.now() - t) / 1000;
      const used = process.cpuUsage(cpu);
      const cpuS = (used.user + used.system) / 1e6;
      console.log(
        `${name}: ${r.certs} certificates, ${workers} workers: ${s.toFixed(1)} s, ${Math.round(r.certs / s)} certificates/s; ${cpuS.toFixed(1)} CPU s (all threads) (${JSON.stringify(r.status)})`,
      );
      await store.close();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
