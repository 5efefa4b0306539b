/**
 * Reusing computed webs: the time window of a set of certificates (evaluating anywhere
 * inside it gives the same summaries), the snapshot encoding, the SQLite snapshot store,
 * and monkeysphere-wot reading a stored result or snapshot only when that is sound:
 * same input bytes, same trust options, reference time inside the window.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { timeWindow } from '../../src/cert/time-window.js';
import { main } from '../../src/cli/monkeysphere-wot.js';
import { Keyring } from '../../src/keyring/keyring.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { SqliteDatabase, SqliteSnapshotStore } from '../../src/store/sqlite/index.js';
import { Verifier } from '../../src/verify/verifier.js';
import { evaluateWeb } from '../../src/wot/from-cert.js';
import { decodeSummaries, encodeSummaries } from '../../src/wot/snapshot.js';
import { buildWeb, DAY, generateWeb, rngFor } from '../helpers/webgen.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ms-wot-snapshot-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('time window', () => {
  it('evaluating anywhere strictly inside the window gives the same summaries (20 random webs)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const web = generateWeb(seed);
      const ring = new Keyring(readCerts(web.bytes).certs);
      const window = timeWindow(ring, web.now);
      assert.ok(window.after < web.now && web.now < window.before);
      const at = async (t: number) => encodeSummaries((await evaluateWeb(ring, t, { verifier: new Verifier(), eager: true })).keys);
      const reference = await at(web.now);
      const rnd = rngFor(seed);
      const lo = Math.max(window.after + 1, web.now - 400 * DAY);
      const hi = Math.min(window.before - 1, web.now + 400 * DAY);
      for (const t of [lo, hi, Math.floor(lo + rnd() * (hi - lo))]) assert.equal((await at(t)).toString(), reference.toString(), `seed ${seed} at ${t}`);
    }
  });

  it('an expiry or a key creation bounds the window; a signature creation does not; a switch point starts a window', async () => {
    const keysCreated = 1640995200;
    const certified = keysCreated + 30 * DAY;
    const web = buildWeb({ keys: [{ name: 'alice', uids: ['alice <alice@example.com>'] }, { name: 'dave', uids: ['dave <dave@example.com>'] }], certs: [{ issuer: 'alice', target: 'dave', expiresAfter: 400 * DAY }] });
    const ring = new Keyring(readCerts(web.bytes).certs);
    // Switch points: the keys' creation (valid from that second on), the certification's expiry (invalid from that second on).
    assert.deepEqual(timeWindow(ring, certified + 100 * DAY), { after: keysCreated - 1, before: certified + 400 * DAY });
    assert.deepEqual(timeWindow(ring, certified + 500 * DAY), { after: certified + 400 * DAY - 1, before: Number.POSITIVE_INFINITY });
    assert.deepEqual(timeWindow(ring, keysCreated), { after: keysCreated - 1, before: certified + 400 * DAY });
    assert.deepEqual(timeWindow(ring, keysCreated - 1), { after: Number.NEGATIVE_INFINITY, before: keysCreated });
    // Before the certification was made (it is future-dated then) the window is the same, and so is the evaluation.
    assert.deepEqual(timeWindow(ring, certified - 10 * DAY), { after: keysCreated - 1, before: certified + 400 * DAY });
    const at = async (t: number) => encodeSummaries((await evaluateWeb(ring, t, { verifier: new Verifier(), eager: true })).keys).toString();
    assert.equal(await at(certified - 10 * DAY), await at(certified + 100 * DAY));
  });
});

describe('snapshot encoding', () => {
  it('round-trips evaluated summaries exactly, outcomes and all', async () => {
    for (const seed of [3, 4]) {
      const web = generateWeb(seed);
      const { keys } = await evaluateWeb(new Keyring(readCerts(web.bytes).certs), web.now, { verifier: new Verifier(), eager: seed === 3 });
      assert.deepEqual(decodeSummaries(encodeSummaries(keys)), keys);
    }
  });

  it('refuses bytes of another format, and damage that still parses as JSON', async () => {
    assert.throws(() => decodeSummaries(Buffer.from('{"format":"other","fprs":[],"keys":[]}')), /snapshot format other/);
    const web = generateWeb(5);
    const { keys } = await evaluateWeb(new Keyring(readCerts(web.bytes).certs), web.now, { verifier: new Verifier() });
    const good = encodeSummaries(keys).toString();
    assert.throws(() => decodeSummaries(Buffer.from(good.replace('"valid"', '"vaild"'))), /snapshot: status vaild/);
    assert.throws(() => decodeSummaries(Buffer.from(good.replace(/"(good|unchecked)"/, '"fine"'))), /snapshot: outcome fine/);
  });
});

describe('SqliteSnapshotStore', () => {
  it('serves a snapshot only strictly inside its window, and keeps the 8 most recently used', async () => {
    const db = SqliteDatabase.open(join(dir, 'store.sqlite'));
    try {
      const store = SqliteSnapshotStore.open(db)!;
      const key = (i: number) => Buffer.from([i]);
      await store.put(key(0), { after: 100, before: 200 }, Buffer.from('zero'));
      assert.equal(await store.get(key(0), 100), undefined);
      assert.equal((await store.get(key(0), 150))?.data.toString(), 'zero');
      assert.deepEqual((await store.get(key(0), 199))?.window, { after: 100, before: 200 });
      assert.equal(await store.get(key(0), 200), undefined);
      await store.put(key(0), { after: 300, before: 400 }, Buffer.from('zero later'));
      assert.equal((await store.get(key(0), 350))?.data.toString(), 'zero later', 'one key, several windows');
      assert.equal((await store.get(key(0), 150))?.data.toString(), 'zero');
      await store.put(key(1), { after: Number.NEGATIVE_INFINITY, before: Number.POSITIVE_INFINITY }, Buffer.from('one'));
      assert.deepEqual((await store.get(key(1), 0))?.window, { after: Number.NEGATIVE_INFINITY, before: Number.POSITIVE_INFINITY });
      for (let i = 2; i < 9; i++) await store.put(key(i), { after: 0, before: 1000 }, Buffer.from(`n${i}`));
      // Ten rows: the two windows of 0 were used least recently, so they go; 1 stays.
      assert.equal(await store.get(key(0), 150), undefined);
      assert.equal(await store.get(key(0), 350), undefined);
      assert.equal((await store.get(key(1), 150))?.data.toString(), 'one');
      assert.equal((await store.get(key(8), 150))?.data.toString(), 'n8');
    } finally {
      db.close();
    }
  });
});

describe('SqliteSnapshotStore, best effort', () => {
  it('never waits for another writer, and keeps the schema version of the database it shares', async () => {
    const path = join(dir, 'busy.sqlite');
    // A busy timeout longer than the test's own: had the write waited for the other writer, the test would time out.
    const db = SqliteDatabase.open(path, { busyTimeoutMs: 3_600_000 });
    const version = db.schemaVersion;
    const store = SqliteSnapshotStore.open(db)!;
    assert.equal(db.schemaVersion, version, 'no migration: a read-only reader of an older store still opens it');
    assert.equal(await store.put(Buffer.from('k'), { after: 0, before: 100 }, Buffer.from('v')), true);
    const other = SqliteDatabase.open(path);
    try {
      other.db.exec('BEGIN IMMEDIATE');
      assert.equal(await store.put(Buffer.from('k2'), { after: 0, before: 100 }, Buffer.from('v2')), false);
      assert.equal((await store.get(Buffer.from('k'), 50))?.data.toString(), 'v', 'reads go on');
      assert.equal(db.db.pragma('busy_timeout', { simple: true }), 3_600_000, 'the connection keeps its own busy timeout');
      other.db.exec('ROLLBACK');
    } finally {
      other.close();
      db.close();
    }
    const readonly = SqliteDatabase.open(join(dir, 'store.sqlite'), { readonly: true });
    try {
      assert.ok(SqliteSnapshotStore.open(readonly), 'a read-only file that has the table serves it');
    } finally {
      readonly.close();
    }
  });
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function wot(argv: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) => ({
    write: (s: string | Uint8Array) => {
      add(s.toString());
      return true;
    },
  });
  const io = {
    stdout: sink((s) => {
      out += s;
    }),
    stderr: sink((s) => {
      err += s;
    }),
    stdin: Readable.from([]),
    env: { HOME: dir, MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' },
    cwd: dir,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

describe('monkeysphere-wot reuses what it computed, only when that is sound', () => {
  // alice (root) certifies bob, and dave until 2023-03-07 (created 2022-01-31, 400 days).
  const web = buildWeb({
    keys: [
      { name: 'alice', uids: ['alice <alice@example.com>'], ownertrust: 6 },
      { name: 'bob', uids: ['bob <bob@example.com>'], ownertrust: 5 },
      { name: 'carol', uids: ['carol <carol@example.com>'] },
      { name: 'dave', uids: ['dave <dave@example.com>'] },
    ],
    certs: [
      { issuer: 'alice', target: 'bob' },
      { issuer: 'bob', target: 'carol' },
      { issuer: 'alice', target: 'dave', expiresAfter: 400 * DAY },
    ],
  });
  const fpr = (name: string) => web.keys.find((k) => k.name === name)!.fpr;
  let args: (at: string, ...rest: string[]) => string[];
  let ring: string;
  before(() => {
    ring = join(dir, 'ring.pgp');
    writeFileSync(ring, web.bytes);
    writeFileSync(join(dir, 'trust.txt'), web.ownertrustText);
    const cache = join(dir, 'cli-cache.sqlite');
    args = (at, ...rest) => ['--keyring', ring, '--ownertrust', join(dir, 'trust.txt'), '--at', at, '--cache', cache, ...rest];
  });
  const letter = (r: Run, name: string) => (JSON.parse(r.out) as Array<{ fingerprint: string; validity: string }>).find((b) => b.fingerprint === fpr(name))?.validity;

  it('a second list reads the stored result; a time inside the window too; past an expiry it recomputes', async () => {
    const first = await wot(args('2023-01-15', '--json', 'list'));
    assert.equal(first.code, 0, first.err);
    assert.match(first.err, /\d+ signatures verified/);
    assert.equal(letter(first, 'dave'), 'f');
    const again = await wot(args('2023-01-15', '--json', 'list'));
    assert.match(again.err, /the stored result holds/);
    assert.equal(again.out, first.out);
    const later = await wot(args('2023-03-01', '--json', 'list'));
    assert.match(later.err, /the stored result holds/, 'no certificate time lies between 2023-01-15 and 2023-03-01');
    const expired = await wot(args('2023-04-01', '--json', 'list'));
    assert.doesNotMatch(expired.err, /stored result|snapshot/);
    assert.notEqual(letter(expired, 'dave'), 'f', "alice's certification of dave has expired");
    assert.equal(letter(expired, 'bob'), 'f');
  });

  it('other trust options reuse the evaluated snapshot; explanations need more and parse again, verifying nothing seen', async () => {
    const other = await wot(args('2023-01-15', '--max-cert-depth', '1', '--json', 'list'));
    assert.match(other.err, /from a snapshot of their evaluation/);
    assert.equal(letter(other, 'carol'), '-', 'bob is beyond depth 1');
    const explained = await wot(args('2023-01-15', 'authenticate', 'carol <carol@example.com>', fpr('carol')));
    assert.equal(explained.code, 0, explained.err);
    assert.match(explained.err, /signatures verified|from a snapshot/);
    const twice = await wot(args('2023-01-15', 'authenticate', 'carol <carol@example.com>', fpr('carol')));
    assert.match(twice.err, /from a snapshot of their evaluation/);
    assert.equal(twice.out, explained.out);
  });

  it('a damaged stored result or snapshot is recomputed, not trusted', async () => {
    const first = await wot(args('2023-01-15', '--json', 'list'));
    const db = SqliteDatabase.open(join(dir, 'cli-cache.sqlite'));
    try {
      db.db.exec(`UPDATE snapshots SET data = CAST('{"format":"wot-bindings-1","bindings":[{}],"unknownRoots":[],"missingRoots":[]}' AS BLOB)`);
    } finally {
      db.close();
    }
    const again = await wot(args('2023-01-15', '--json', 'list'));
    assert.equal(again.code, 0, again.err);
    assert.doesNotMatch(again.err, /stored result|snapshot/);
    assert.equal(again.out, first.out);
  });

  it('changed input bytes are parsed again, and the verification cache answers for what it has seen', async () => {
    const doubled = join(dir, 'doubled.pgp');
    writeFileSync(doubled, Buffer.concat([web.bytes, web.bytes]));
    const r = await wot(['--keyring', doubled, ...args('2023-01-15', '--json', 'list').slice(2)]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, / 0 signatures verified, \d+ from the cache/);
    assert.equal(letter(r, 'carol'), 'f');
  });
});
