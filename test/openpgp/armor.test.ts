/**
 * The armor checksum (RFC 9580 §6.1, CRC-24): the four-bytes-per-step tables against the
 * definition (bit by bit), at every length around the step and in pieces, and the armor
 * GnuPG writes for the same bytes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { armor, crc24, dearmor } from '../../src/openpgp/armor.js';

/** CRC-24 as RFC 9580 §6.1.1 defines it, one bit at a time. */
function definition(data: Uint8Array): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let bit = 0; bit < 8; bit++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** Deterministic bytes (a linear congruential generator), so a failure names its input. */
function bytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

test('crc24 equals the bit-by-bit definition at every length from 0 to 300, whole and in pieces', () => {
  for (let n = 0; n <= 300; n++) {
    const data = bytes(n, n + 1);
    const want = definition(data);
    assert.equal(crc24(data), want, `length ${n}`);
    for (const cut of [1, 2, 3, n >> 1, n - 1]) {
      if (cut <= 0 || cut >= n) continue;
      assert.equal(crc24(data.subarray(cut), crc24(data.subarray(0, cut))), want, `length ${n} cut at ${cut}`);
    }
  }
  assert.equal(crc24(Buffer.alloc(0)), 0xb704ce, 'the initial value for no data');
  assert.equal(crc24(Buffer.alloc(100_000, 0xff)), definition(Buffer.alloc(100_000, 0xff)));
});

test('armor writes the checksum GnuPG writes for the same bytes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-armor-'));
  try {
    for (const n of [1, 2, 3, 4, 47, 48, 49, 1000, 4099]) {
      const data = bytes(n, 7 * n);
      const file = join(dir, `d${n}`);
      writeFileSync(file, data);
      const r = spawnSync('gpg', ['--homedir', dir, '--batch', '--enarmor', '--output', '-', file], { encoding: 'latin1' });
      assert.equal(r.status, 0, r.stderr);
      const gpgSum = /^=([A-Za-z0-9+/]{4})$/m.exec(r.stdout)?.[1];
      const ours = /^=([A-Za-z0-9+/]{4})$/m.exec(armor('MESSAGE', data))?.[1];
      assert.ok(gpgSum, `gpg wrote a checksum for ${n} bytes`);
      assert.equal(ours, gpgSum, `${n} bytes`);
      assert.deepEqual(dearmor(Buffer.from(r.stdout, 'latin1')), data);
    }
  } finally {
    spawnSync('gpgconf', ['--homedir', dir, '--kill', 'all']);
    rmSync(dir, { recursive: true, force: true });
  }
});
