/**
 * The keyserver's upload windows in memory (src/server/upload-windows.ts): per-client uploads
 * and per-certificate changes in sliding windows, and what is forgotten when too many keys
 * are counted: never a key at its limit while others can go.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalUploadWindows } from '../../src/server/upload-windows.js';

const NOW = 1_800_000_000;
const policy = { clientUploads: 3, clientWindow: 60, certUpdates: 2, certWindow: 3600 };

test('a client may upload its number per window; the wait is until the oldest leaves it', async () => {
  const w = new LocalUploadWindows(policy);
  assert.equal(await w.takeClient('192.0.2.1', NOW), 0);
  assert.equal(await w.takeClient('192.0.2.1', NOW + 10), 0);
  assert.equal(await w.takeClient('192.0.2.1', NOW + 20), 0);
  assert.equal(await w.takeClient('192.0.2.1', NOW + 30), 30, 'refused, and not counted');
  assert.equal(await w.takeClient('192.0.2.2', NOW + 30), 0, 'another client has its own');
  assert.equal(await w.takeClient('192.0.2.1', NOW + 61), 0, 'the first upload left the window');
});

test('a certificate may change its number per window; a wait is only read, a change counted', async () => {
  const w = new LocalUploadWindows(policy);
  assert.equal(await w.certWait('A', NOW), 0);
  await w.certChanged('A', NOW);
  assert.equal(await w.certWait('A', NOW), 0, 'reading the wait counts nothing');
  await w.certChanged('A', NOW + 100);
  assert.equal(await w.certWait('A', NOW + 200), 3400);
  assert.equal(await w.certWait('A', NOW + 3601), 0);
});

test('100,000 other certificates do not reset one that is over its window; those under their limit go first', async () => {
  const w = new LocalUploadWindows(policy);
  await w.certChanged('VICTIM', NOW);
  await w.certChanged('VICTIM', NOW + 1);
  const before = await w.certWait('VICTIM', NOW + 2);
  assert.ok(before > 0);
  // An attacker uploading 100,001 fresh certificates: one change each.
  for (let i = 0; i <= 100_000; i++) await w.certChanged(`T${i}`, NOW + 2);
  assert.equal(await w.certWait('VICTIM', NOW + 2), before, 'still over its window');
  assert.equal(await w.certWait('T100000', NOW + 2), 0);
});
