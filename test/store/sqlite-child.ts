/**
 * Child process for the SQLite store tests: `put DB FILE` stores each certificate of FILE in its own
 * transaction; `crash DB FILE N` stores FILE in one transaction but stops after N certificates,
 * says "mid" on stdout and waits to be killed, so the parent can kill it inside the transaction;
 * `read DB KEYID TEXT` opens the store read-only (as an unprivileged user, say), reads through
 * every role and prints what it found as JSON.
 */
import { readFileSync, writeSync } from 'node:fs';
import { readCerts } from '../../src/openpgp/cert.js';
import { SqliteCertStore, SqliteDatabase, SqliteStore } from '../../src/store/sqlite/index.js';

const [mode, dbPath, file, n] = process.argv.slice(2);
const now = 1673740800;

if (mode === 'read') {
  const [issuer, text] = [file, n];
  try {
    const store = await SqliteStore.open(dbPath, { readonly: true });
    const fprs: string[] = [];
    for await (const s of store.certs.all()) fprs.push(s.fpr);
    let digests = 0;
    for await (const _ of store.digests.digests()) digests++;
    const out = {
      readonly: store.readonly,
      count: await store.certs.count(),
      parsed: (await store.certs.get(fprs[0]))?.cert.primary.fpr,
      fprs,
      digests,
      certifiedBy: (await store.certifications.certifiedBy([issuer])).map((r) => r.target),
      search: (await store.search.searchUserIds(text, 100)).map((s) => s.fpr),
      latest: await store.changes.latest(),
      meta: await store.meta.getMeta('k'),
      derived: await store.derived.lookup('t', 'a'),
      cached: [...(await store.verifications.lookup([Buffer.alloc(32, 7)])).values()],
      write: await store.meta.setMeta('k', 'w').then(
        () => 'written',
        (err: { code?: string }) => err.code,
      ),
    };
    await store.close();
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: (err as { code?: string }).code ?? String(err) })}\n`);
  }
  process.exit(0);
}

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
