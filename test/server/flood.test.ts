/**
 * Certificate flooding (CVE-2019-13050) against the keyserver's ingest: a certificate
 * carrying 150,000 certifications by 150,000 throwaway Ed25519 keys (test/helpers/flood.ts,
 * seeded, at its fixed reference time) plus genuine certifications by issuers the server
 * holds. The stored certificate stays within the budget, keeps the genuine certifications,
 * and GnuPG 2.2 (the oracle) imports the served bytes and lists those certifications.
 * Timings are reported as diagnostics, never asserted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { armor } from '../../src/openpgp/armor.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { DEFAULT_POLICY, Keyserver } from '../../src/server/keyserver.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import { FLOOD_CREATED, FLOOD_NOW, floodCertifications, Holder, throwawayKeys, withSignatures } from '../helpers/flood.js';
import { GpgHome } from '../helpers/gpg.js';

const JUNK = 150_000;
const V = 'Victim <victim@example.org>';
const SSH = 'ssh://victim.example.org';
const root = mkdtempSync(join(tmpdir(), 'ms-ks-flood-'));
after(() => rmSync(root, { recursive: true, force: true }));

const bob = new Holder('flood-bob', ['Bob <bob@example.org>']);
const carol = new Holder('flood-carol', ['Carol <carol@example.org>']);
// bob and carol certify each other: each is connected to another stored key.
const bobBytes = withSignatures(bob.cert, 'Bob <bob@example.org>', [carol.certify(bob.cert, 'Bob <bob@example.org>', FLOOD_CREATED + 1)]);
const carolBytes = withSignatures(carol.cert, 'Carol <carol@example.org>', [bob.certify(carol.cert, 'Carol <carol@example.org>', FLOOD_CREATED + 1)]);
const victim = new Holder('flood-victim', [V, SSH]);
// The genuine certifications are older than all the junk.
const genuine = [bob.certify(victim.cert, V, FLOOD_CREATED + 10), carol.certify(victim.cert, SSH, FLOOD_CREATED + 11)];

let junk: Buffer[] = [];
before(() => {
  const t0 = performance.now();
  junk = floodCertifications(victim.cert, V, JUNK, { seed: 'flood-junk', newest: FLOOD_NOW - 86400 });
  process.stderr.write(`# flood: ${JUNK} certifications generated (or read from the cache) in ${Math.round(performance.now() - t0)} ms\n`);
});

function gpgSigs(bytes: Buffer): { issuers: string[]; records: string[][] } {
  const gpg = new GpgHome(FLOOD_NOW);
  try {
    gpg.ok(['--import'], bytes);
    const records = gpg.colons(['--list-sigs', victim.fpr]);
    return { issuers: records.filter((r) => r[0] === 'sig').map((r) => r[4]), records };
  } finally {
    gpg.cleanup();
  }
}

describe('a flooded certificate', () => {
  test('150,000 bogus certifications by unknown keys: answered, stored within budget, genuine certifications kept, gpg imports it', async (t) => {
    const store = await SqliteStore.open(join(root, 'a.sqlite'));
    try {
      const ks = await Keyserver.open(store);
      await ks.submit(Buffer.concat([bobBytes, carolBytes]), { now: FLOOD_NOW });
      const flooded = withSignatures(victim.cert, V, [...junk, ...genuine.slice(0, 1)]);
      const upload = Buffer.from(armor('PUBLIC KEY BLOCK', withSignatures(readCerts(flooded).certs[0], SSH, genuine.slice(1))));
      t.diagnostic(`upload: ${upload.length} bytes armored`);
      const t0 = performance.now();
      // Other work gets the event loop while the flood is processed (another client's request, say).
      let turns = 0;
      const other = setInterval(() => {
        turns++;
      }, 1);
      const report = await ks.submit(upload, { now: FLOOD_NOW, client: '192.0.2.7' });
      clearInterval(other);
      t.diagnostic(`submit of the flooded certificate: ${Math.round(performance.now() - t0)} ms; other work ran ${turns} times meanwhile`);
      assert.ok(turns >= 3, `other work ran ${turns} times during the submit`);
      const out = report.certs[0];
      assert.equal(out.status, 'inserted');
      assert.equal(out.kept.certifications, 2);
      assert.equal(out.held, DEFAULT_POLICY.maxHeld);
      assert.equal(out.dropped['over budget'], JUNK - DEFAULT_POLICY.maxHeld);
      assert.equal(await store.held.count(victim.fpr), DEFAULT_POLICY.maxHeld);
      const stored = await store.certs.get(victim.fpr);
      assert.ok(stored);
      t.diagnostic(`stored: ${stored.bytes.length} bytes`);
      assert.ok(stored.bytes.length < victim.bytes.length + DEFAULT_POLICY.maxCertificationBytes, `stored ${stored.bytes.length} bytes`);
      const t1 = performance.now();
      const { issuers } = gpgSigs(stored.bytes);
      t.diagnostic(`gpg --import and --list-sigs of the served certificate: ${Math.round(performance.now() - t1)} ms`);
      assert.ok(issuers.includes(bob.primary.keyId), 'bob’s certification listed by gpg');
      assert.ok(issuers.includes(carol.primary.keyId), 'carol’s certification listed by gpg');
      assert.equal(issuers.length, 4, 'two self-signatures and two certifications');
      // The same flood again: nothing changes, and it is quick too.
      const t2 = performance.now();
      const again = await ks.submit(upload, { now: FLOOD_NOW + 1 });
      t.diagnostic(`the same upload again: ${Math.round(performance.now() - t2)} ms`);
      assert.equal(again.certs[0].status, 'unchanged');
    } finally {
      await store.close();
    }
  });

  test('a flood by 300 stored throwaway keys is cut to the count cap; the connected genuine issuers are kept first', async (t) => {
    const store = await SqliteStore.open(join(root, 'b.sqlite'));
    try {
      const ks = await Keyserver.open(store);
      await ks.submit(Buffer.concat([bobBytes, carolBytes]), { now: FLOOD_NOW });
      const stored = throwawayKeys('flood-junk', 0, 300);
      for (let i = 0; i < stored.length; i += 100) await ks.submit(Buffer.concat(stored.slice(i, i + 100).map((h) => h.bytes)), { now: FLOOD_NOW });
      const upload = withSignatures(readCerts(withSignatures(victim.cert, V, [...junk.slice(0, 20_000), genuine[0]])).certs[0], SSH, [genuine[1]]);
      const t0 = performance.now();
      const out = (await ks.submit(upload, { now: FLOOD_NOW })).certs[0];
      t.diagnostic(`submit with 300 verifiable junk certifications among 20,000: ${Math.round(performance.now() - t0)} ms`);
      const cap = Math.min(DEFAULT_POLICY.maxCertifications, Math.floor(DEFAULT_POLICY.maxCertificationBytes / 119));
      assert.ok(out.kept.certifications <= cap, `${out.kept.certifications} kept`);
      const cert = (await store.certs.get(victim.fpr))!.cert;
      const issuerFprs = cert.users.flatMap((u) => u.signatures.flatMap((e) => e.sig?.issuerFingerprints ?? []));
      assert.ok(issuerFprs.includes(bob.fpr) && issuerFprs.includes(carol.fpr), 'genuine kept though older than all the junk');
      const { issuers } = gpgSigs((await store.certs.get(victim.fpr))!.bytes);
      assert.ok(issuers.includes(bob.primary.keyId) && issuers.includes(carol.primary.keyId));
    } finally {
      await store.close();
    }
  });
});
