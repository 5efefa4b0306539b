/**
 * Child process for the SQLite store tests: `put DB FILE` stores each certificate of FILE in its own
 * transaction; `crash DB FILE N` stores FILE in one transaction but stops after N certificates,
 * says "mid" on stdout and waits to be killed, so the parent can kill it inside the transaction.
 */
import { readFileSync, writeSync } from 'node:fs';
import { readCerts } from '../../src/openpgp/cert.js';
import { SqliteCertStore, SqliteDatabase } from '../../src/store/sqlite/index.js';

const [mode, dbPath, file, n] = process.argv.slice(2);
const now = 1673740800;
const { certs } = readCerts(readFileSync(file));
const db = SqliteDatabase.open(dbPath, { busyTimeoutMs: 30_000 });
const store = new SqliteCertStore(db);

if (mode === 'put') {
  for (const c of certs) await store.put(c, now);
  db.close();
  process.stdout.write('done\n');
} else if (mode === 'crash') {
  // A tiny page cache makes SQLite spill uncommitted pages into the WAL file during the transaction.
  db.db.pragma('cache_size = 8');
  const stopAt = Number(n);
  function* slowly() {
    for (let i = 0; i < certs.length; i++) {
      if (i === stopAt) {
        writeSync(1, 'mid\n');
        // Block inside the open transaction until killed.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      }
      yield certs[i];
    }
  }
  await store.putMany(slowly(), now);
  process.stdout.write('finished\n');
} else {
  throw new Error(`unknown mode ${mode}`);
}
