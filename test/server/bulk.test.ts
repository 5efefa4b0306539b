/**
 * Bulk import and dump (src/server/bulk.ts). Oracles: GnuPG 2.2 importing the same keyring
 * (Debian's, from the debian-keyring package), and SKS 1.1.6 building its database from our
 * dump and dumping it again. Resuming, armored keyrings, worker threads or none.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MsError } from '../../src/errors.js';
import { armor } from '../../src/openpgp/armor.js';
import { type Cert, readCerts, writeCerts } from '../../src/openpgp/cert.js';
import { dumpStore, importFiles } from '../../src/server/bulk.js';
import { Keyserver } from '../../src/server/keyserver.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { FLOOD_NOW } from '../helpers/flood.js';
import { GpgHome } from '../helpers/gpg.js';

const DEBIAN = '/usr/share/keyrings/debian-keyring.gpg';
const NOW = FLOOD_NOW;
const root = mkdtempSync(join(tmpdir(), 'ms-ks-bulk-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => SqliteStore.open(join(root, `s-${++n}.sqlite`));

const debianCerts = (): Cert[] => readCerts(readFileSync(DEBIAN)).certs;

/** The first `count` certificates of Debian's keyring, as a file. */
function smallKeyring(count: number, name: string): string {
  const path = join(root, name);
  writeFileSync(path, writeCerts(debianCerts().slice(0, count)));
  return path;
}

async function storedFprs(store: Store): Promise<string[]> {
  const out: string[] = [];
  for await (const s of store.certs.all()) out.push(s.fpr);
  return out;
}

/** gpg's colon listing, per primary fingerprint: user IDs, subkeys, and signatures (issuer key ID, created, class, check result). */
function gpgListing(gpg: GpgHome, args: string[]): Map<string, { uids: Set<string>; subkeys: Set<string>; sigs: Map<string, Set<string>> }> {
  const out = new Map<string, { uids: Set<string>; subkeys: Set<string>; sigs: Map<string, Set<string>> }>();
  let cur: { uids: Set<string>; subkeys: Set<string>; sigs: Map<string, Set<string>> } | undefined;
  let uid: string | undefined;
  let expectFpr: 'pub' | 'sub' | undefined;
  for (const r of gpg.colons(args)) {
    if (r[0] === 'pub') {
      cur = { uids: new Set(), subkeys: new Set(), sigs: new Map() };
      expectFpr = 'pub';
      uid = undefined;
    } else if (r[0] === 'sub') expectFpr = 'sub';
    else if (r[0] === 'fpr' && cur && expectFpr) {
      if (expectFpr === 'pub') out.set(r[9], cur);
      else cur.subkeys.add(r[9]);
      expectFpr = undefined;
    } else if (r[0] === 'uid' && cur) {
      uid = r[9];
      cur.uids.add(uid);
      cur.sigs.set(uid, new Set());
    } else if (r[0] === 'sub' || r[0] === 'uat') uid = undefined;
    else if ((r[0] === 'sig' || r[0] === 'rev') && cur && uid !== undefined) cur.sigs.get(uid)?.add(`${r[4]}:${r[5]}:${r[10].slice(0, 2)}:${r[1]}`);
  }
  return out;
}

/** gpg's way of writing a user ID in colon listings: bytes as text with \x3a for ':' and control characters escaped. */
function colonUid(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    out += c < 0x20 || ch === ':' || ch === '\\' ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}

describe('bulk import', () => {
  test('Debian’s keyring: the same keys, user IDs and subkeys as gpg --import; every certification served is one gpg verifies', async (t) => {
    const store = await fresh();
    try {
      const ks = await Keyserver.open(store);
      const t0 = performance.now();
      const report = await importFiles(ks, [DEBIAN], { now: NOW });
      const secs = (performance.now() - t0) / 1000;
      t.diagnostic(`imported ${report.certs} certificates in ${secs.toFixed(1)} s (${Math.round(report.certs / secs)}/s): ${JSON.stringify(report.status)}, held ${report.held}, dropped ${JSON.stringify(report.dropped)}`);
      const gpg = new GpgHome(NOW);
      try {
        const g0 = performance.now();
        gpg.ok(['--import'], readFileSync(DEBIAN));
        t.diagnostic(`gpg --import of the same file: ${((performance.now() - g0) / 1000).toFixed(1)} s`);
        const listing = gpgListing(gpg, ['--list-sigs']);
        assert.deepEqual(await storedFprs(store), [...listing.keys()].sort());
        let served = 0;
        for await (const s of store.certs.all()) {
          const g = listing.get(s.fpr)!;
          const cert = s.cert;
          assert.deepEqual(new Set(cert.users.filter((u) => u.kind === 'userid').map((u) => colonUid(u.text))), g.uids, `user IDs of ${s.fpr}`);
          assert.deepEqual(new Set(cert.subkeys.map((k) => k.key.fpr)), g.subkeys, `subkeys of ${s.fpr}`);
          for (const u of cert.users) {
            if (u.kind !== 'userid') continue;
            const theirs = [...(g.sigs.get(colonUid(u.text)) ?? [])].map((x) => x.split(':').slice(0, 3).join(':'));
            for (const e of u.signatures) {
              const sig = e.sig!;
              const mine = `${sig.issuerKeyIds[0]}:${sig.created}:${sig.type.toString(16).padStart(2, '0')}`;
              assert.ok(theirs.includes(mine), `${s.fpr} ${u.text}: ${mine} is in gpg's listing`);
              if (!sig.issuerKeyIds.includes(cert.primary.keyId)) served++;
            }
          }
        }
        t.diagnostic(`third-party certifications served: ${served}`);
        // The 20 certificates with the most certifications: every one served verifies for gpg
        // (--check-sigs "!"), unless gpg does not check it because its issuer has expired or been
        // revoked by the reference time (gpg answers "?"; the keyserver keeps certifications made
        // while the key was good).
        const unusable = new Set(gpg.colons(['--list-keys']).filter((r) => r[0] === 'pub' && (r[1] === 'e' || r[1] === 'r')).map((r) => r[4]));
        const busiest = (await Promise.all((await storedFprs(store)).map(async (f) => ({ f, n: (await store.certifications.certificationsOf(f)).length })))).sort((a, b) => b.n - a.n).slice(0, 20);
        const checked = gpgListing(gpg, ['--allow-weak-key-signatures', '--check-sigs', ...busiest.map((b) => b.f)]);
        let verified = 0;
        for (const { f } of busiest) {
          const cert = (await store.certs.get(f))!.cert;
          const g = checked.get(f)!;
          for (const u of cert.users) {
            if (u.kind !== 'userid') continue;
            const good = new Set([...(g.sigs.get(colonUid(u.text)) ?? [])].filter((x) => x.endsWith(':!')).map((x) => x.split(':').slice(0, 3).join(':')));
            for (const e of u.signatures) {
              const sig = e.sig!;
              if (unusable.has(sig.issuerKeyIds[0])) continue;
              assert.ok(good.has(`${sig.issuerKeyIds[0]}:${sig.created}:${sig.type.toString(16).padStart(2, '0')}`), `${f}: ${sig.issuerKeyIds[0]} verifies for gpg`);
              verified++;
            }
          }
        }
        t.diagnostic(`signatures on the 20 busiest certificates checked by gpg: ${verified}`);
        assert.ok(verified > 500, `${verified} checked`);
      } finally {
        gpg.cleanup();
      }
    } finally {
      await store.close();
    }
  });

  test('resumable: a run stopped after its first batch goes on where it stopped', async () => {
    const file = smallKeyring(60, 'sixty.pgp');
    const store = await fresh();
    try {
      const ks = await Keyserver.open(store);
      await assert.rejects(
        importFiles(ks, [file], {
          now: NOW,
          batchSize: 20,
          workers: 1,
          onProgress: (done) => {
            if (done >= 20) throw new Error('stopped');
          },
        }),
        /stopped/,
      );
      assert.equal(await store.certs.count(), 20);
      const progress: Array<[number, number]> = [];
      const report = await importFiles(ks, [file], { now: NOW, batchSize: 20, resume: true, workers: 1, onProgress: (d, t) => progress.push([d, t]) });
      assert.deepEqual(report.files.map((f) => [f.certs, f.resumedAt]), [[40, 20]]);
      assert.deepEqual(progress, [
        [20, 40],
        [40, 40],
      ]);
      assert.equal(await store.certs.count(), 60);
      // Done: a third run with resume reads nothing.
      assert.equal((await importFiles(ks, [file], { now: NOW, resume: true, workers: 0 })).certs, 0);
      // Without resume it reads all again, and nothing changes.
      const again = await importFiles(ks, [file], { now: NOW, workers: 0 });
      assert.equal(again.status.unchanged, 60);
    } finally {
      await store.close();
    }
  });

  test('an armored keyring, with workers or without, gives the same store as the binary one', async () => {
    const file = smallKeyring(40, 'forty.pgp');
    const asc = join(root, 'forty.asc');
    writeFileSync(asc, armor('PUBLIC KEY BLOCK', readFileSync(file)));
    const a = await fresh();
    const b = await fresh();
    try {
      await importFiles(await Keyserver.open(a), [file], { now: NOW, workers: 2, batchSize: 7 });
      await importFiles(await Keyserver.open(b), [asc], { now: NOW, workers: 0 });
      const bytes = async (s: Store) => {
        const out: string[] = [];
        for await (const c of s.certs.all()) out.push(c.bytes.toString('hex'));
        return out;
      };
      assert.deepEqual(await bytes(a), await bytes(b));
      assert.equal((await bytes(a)).length, 40);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('files that cannot be read or are not OpenPGP: MS_KS_IMPORT_IO, MS_KS_UNPARSEABLE', async () => {
    const store = await fresh();
    try {
      const ks = await Keyserver.open(store);
      await assert.rejects(importFiles(ks, [join(root, 'missing.pgp')], { now: NOW }), (e: unknown) => e instanceof MsError && e.code === 'MS_KS_IMPORT_IO');
      const junk = join(root, 'junk.txt');
      writeFileSync(junk, 'not a keyring\n');
      await assert.rejects(importFiles(ks, [junk], { now: NOW }), (e: unknown) => e instanceof MsError && e.code === 'MS_KS_UNPARSEABLE');
    } finally {
      await store.close();
    }
  });
});

describe('dump', () => {
  test('numbered files of at most N certificates, the bytes served; SKS 1.1.6 builds its database from them with every key', async () => {
    const file = smallKeyring(75, 'seventy-five.pgp');
    const store = await fresh();
    try {
      await importFiles(await Keyserver.open(store), [file], { now: NOW, workers: 0 });
      const dir = join(root, 'dump');
      const { files, certs } = await dumpStore(store, dir, { certsPerFile: 30 });
      assert.equal(certs, 75);
      assert.deepEqual(
        files.map((f) => f.slice(dir.length + 1)),
        ['hkp-dump-0000.pgp', 'hkp-dump-0001.pgp', 'hkp-dump-0002.pgp'],
      );
      const counts = files.map((f) => readCerts(readFileSync(f)).certs.length);
      assert.deepEqual(counts, [30, 30, 15]);
      const served: Buffer[] = [];
      for await (const s of store.certs.all()) served.push(s.bytes);
      assert.deepEqual(Buffer.concat(files.map((f) => readFileSync(f))), Buffer.concat(served));

      // SKS: build from the dump, then dump its database again and count.
      const sks = join(root, 'sks');
      for (const d of ['etc/sks', 'var/lib/sks/www', 'var/log/sks', 'var/run/sks', 'var/spool/sks', 'out']) mkdirSync(join(sks, d), { recursive: true });
      writeFileSync(join(sks, 'etc/sks/sksconf'), 'hostname: localhost\nhkp_address: 127.0.0.1\nhkp_port: 11399\nrecon_address: 127.0.0.1\nrecon_port: 11398\ndisable_mailsync:\n');
      writeFileSync(join(sks, 'etc/sks/membership'), '');
      const build = spawnSync('/usr/sbin/sks', ['build', ...files, '-n', '10', '-cache', '100', '-basedir', sks], { cwd: sks, encoding: 'utf8', timeout: 120_000 });
      assert.equal(build.status, 0, `sks build: ${build.stderr}`);
      const dump = spawnSync('/usr/sbin/sks', ['dump', '1000', join(sks, 'out'), 'again', '-basedir', sks], { cwd: sks, encoding: 'utf8', timeout: 120_000 });
      assert.equal(dump.status, 0, `sks dump: ${dump.stderr}`);
      const back = readdirSync(join(sks, 'out'))
        .filter((f) => f.endsWith('.pgp'))
        .flatMap((f) => readCerts(readFileSync(join(sks, 'out', f))).certs.map((c) => c.primary.fpr));
      assert.deepEqual(back.sort(), await storedFprs(store));
    } finally {
      await store.close();
    }
  });

  test('an empty store dumps no file; an unwritable directory is MS_KS_DUMP_IO', async () => {
    const store = await fresh();
    try {
      assert.deepEqual(await dumpStore(store, join(root, 'empty-dump')), { files: [], certs: 0 });
      const notDir = join(root, 'a-file');
      writeFileSync(notDir, 'x');
      await store.certs.put(debianCerts()[0], NOW);
      await assert.rejects(dumpStore(store, join(notDir, 'sub')), (e: unknown) => e instanceof MsError && e.code === 'MS_KS_DUMP_IO');
      // Node 20's recursive mkdir spins forever on /proc (the kernel answers ENOENT): an error, at once.
      await assert.rejects(dumpStore(store, '/proc/no-such-dir/dump'), (e: unknown) => e instanceof MsError && e.code === 'MS_KS_DUMP_IO');
    } finally {
      await store.close();
    }
  });
});
