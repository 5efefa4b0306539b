/**
 * Index summaries kept as notes on the stored certificates (src/server/summary.ts): noted by
 * the ingest when a certificate is stored (uploads and bulk loading), read by lookups instead
 * of an evaluation, and never read beside other bytes or outside their time window.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Keyserver } from '../../src/server/keyserver.js';
import { type CertSummary, Summaries } from '../../src/server/summary.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store, StoredCert } from '../../src/store/types.js';
import { FLOOD_CREATED, FLOOD_NOW, Holder, withSignatures } from '../helpers/flood.js';

const NOW = FLOOD_NOW;
const root = mkdtempSync(join(tmpdir(), 'ms-ks-summary-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function open(): Promise<{ ks: Keyserver; store: Store }> {
  const store = await SqliteStore.open(join(root, `s-${++n}.sqlite`));
  return { ks: await Keyserver.open(store), store };
}

/** The summary evaluated from the certificate itself: a store whose notes are always empty. */
async function evaluated(store: Store, s: StoredCert): Promise<CertSummary> {
  const noNotes = { certs: store.certs, notes: { get: async () => new Map(), put: async () => 0 } };
  return (await new Summaries(noNotes).of([s], NOW))[0];
}

/** A summary as plain data (absent and undefined members alike), user ID bytes as hex. */
const plain = (s: CertSummary) => JSON.parse(JSON.stringify({ ...s, userIds: s.userIds.map((u) => ({ ...u, bytes: u.bytes.toString('hex') })) }));

const noteOf = async (store: Store, s: StoredCert) => (await store.notes.get([s], NOW)).get(s.serial);
const uidTexts = (s: CertSummary) => s.userIds.map((u) => u.text);

test('an upload is noted as it is stored, and a lookup reads the note instead of evaluating', async () => {
  const { ks, store } = await open();
  try {
    const alice = new Holder('summary-alice', ['Alice <alice@example.org>', 'alice@example.net']);
    await ks.submit(alice.bytes, { now: NOW });
    const stored = (await store.certs.get(alice.fpr))!;
    const note = await noteOf(store, stored);
    assert.ok(note, 'noted at ingest');
    assert.ok(note.window.after < NOW && note.window.before === Number.POSITIVE_INFINITY, 'the key never expires: the note holds from its creation on');
    const want = await evaluated(store, stored);
    assert.deepEqual(uidTexts(want), ['Alice <alice@example.org>', 'alice@example.net']);
    const fromNote = (await new Summaries(store).of([stored], NOW))[0];
    assert.ok(Buffer.isBuffer(fromNote.userIds[0].bytes));
    assert.deepEqual(plain(fromNote), plain(want), 'the note gives what the evaluation gives, user ID bytes included');

    // What a lookup shows is the note: a doctored one is read as it is, inside its window only.
    const doctored = JSON.parse(note.data.toString('utf8'));
    doctored.userIds[0].text = 'from the note';
    await store.notes.put([{ serial: stored.serial, digest: stored.digest, window: { after: NOW - 1, before: NOW + 1 }, data: Buffer.from(JSON.stringify(doctored)) }]);
    assert.equal((await new Summaries(store).of([stored], NOW))[0].userIds[0].text, 'from the note');
    const later = (await new Summaries(store).of([stored], NOW + 5))[0];
    assert.equal(later.userIds[0].text, 'Alice <alice@example.org>', 'outside its window the note is not read');
    // ... and the evaluation at NOW + 5 was noted in its place.
    assert.notEqual((await store.notes.get([stored], NOW + 5)).get(stored.serial)?.data.toString('utf8').includes('from the note'), true);
  } finally {
    await store.close();
  }
});

test('new bytes get a new note; the old one is never read beside them', async () => {
  const { ks, store } = await open();
  try {
    const alice = new Holder('summary-alice-2', ['Alice <alice@example.org>']);
    const bob = new Holder('summary-bob', ['Bob <bob@example.org>']);
    await ks.submit(Buffer.concat([alice.bytes, bob.bytes]), { now: NOW });
    const before = (await store.certs.get(alice.fpr))!;
    assert.ok(await noteOf(store, before));
    // Bob certifies Alice: her bytes change, and so does her note.
    await ks.submit(withSignatures(alice.cert, 'Alice <alice@example.org>', [bob.certify(alice.cert, 'Alice <alice@example.org>', FLOOD_CREATED + 10)]), { now: NOW });
    const afterwards = (await store.certs.get(alice.fpr))!;
    assert.notDeepEqual(afterwards.digest, before.digest);
    assert.equal(await noteOf(store, before), undefined, 'no note for the old bytes');
    assert.ok(await noteOf(store, afterwards), 'the new bytes were noted');
    // A revocation: the note says revoked.
    await ks.submit(Buffer.concat([alice.primary.packet.raw, alice.revocation(FLOOD_CREATED + 20)]), { now: NOW });
    const revoked = (await store.certs.get(alice.fpr))!;
    const summary = (await new Summaries(store).of([revoked], NOW))[0];
    assert.equal(summary.revoked, true);
    assert.deepEqual(plain(summary), plain(await evaluated(store, revoked)));
  } finally {
    await store.close();
  }
});

test('bulk loading notes what it stores; a damaged note is evaluated again and replaced', async () => {
  const { ks, store } = await open();
  try {
    const holders = [0, 1, 2].map((i) => new Holder(`summary-bulk-${i}`, [`Member ${i} <m${i}@example.org>`]));
    await ks.ingestCerts(
      holders.map((h) => h.cert),
      { now: NOW },
    );
    const stored = await store.certs.getMany(holders.map((h) => h.fpr));
    assert.equal((await store.notes.get(stored, NOW)).size, 3);
    await store.notes.put([{ serial: stored[1].serial, digest: stored[1].digest, window: { after: 0, before: Number.POSITIVE_INFINITY }, data: Buffer.from('{"format":"index-summary-1","userIds":') }]);
    const got = await new Summaries(store).of(stored, NOW);
    assert.deepEqual(got.map(uidTexts), [['Member 0 <m0@example.org>'], ['Member 1 <m1@example.org>'], ['Member 2 <m2@example.org>']]);
    assert.deepEqual(plain(got[1]), plain(await evaluated(store, stored[1])));
    const replaced = (await store.notes.get([stored[1]], NOW)).get(stored[1].serial);
    assert.ok(replaced?.data.toString('utf8').includes('Member 1'));
  } finally {
    await store.close();
  }
});
