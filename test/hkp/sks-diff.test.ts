/**
 * Our machine-readable index against SKS 1.1.6's for the same certificates (gpg-made
 * fixtures uploaded to both): the lines GnuPG parses are the same, up to the differences
 * listed here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { systemTime } from '../../src/clock.js';
import { armor } from '../../src/openpgp/armor.js';
import { SksServer } from '../helpers/sks.js';
import { TestServer } from './harness.js';

const FIXTURES = ['alice', 'bob', 'carol', 'dave', 'expired', 'renewed', 'revoked-hard', 'revoked-soft', 'uid-revoked', 'subkeys'];
const fixture = (name: string) => readFileSync(new URL(`../fixtures/certs/${name}.pgp`, import.meta.url));
const index = JSON.parse(readFileSync(new URL('../fixtures/certs/index.json', import.meta.url), 'utf8')) as Record<string, { fpr: string }>;

describe('the machine-readable index, ours and SKS 1.1.6', () => {
  let sks: SksServer;
  let ours: TestServer;
  before(async () => {
    sks = await SksServer.start();
    // Both judge expiry by the clock.
    ours = await TestServer.start({ now: systemTime });
    const all = Buffer.concat(FIXTURES.map(fixture));
    for (const base of [`http://127.0.0.1:${sks.port}`, ours.base]) {
      const r = await fetch(`${base}/pks/add`, { method: 'POST', body: `keytext=${encodeURIComponent(armor('PUBLIC KEY BLOCK', all))}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(r.status, 200, base);
    }
  });
  after(async () => {
    await sks?.stop();
    await ours?.stop();
  });

  test('the same lines for every certificate, but for the three differences SKS has', async () => {
    for (const name of FIXTURES) {
      const q = `/pks/lookup?op=index&options=mr&search=0x${index[name].fpr}`;
      const theirs = await (await fetch(`http://127.0.0.1:${sks.port}${q}`)).text();
      const mine = await (await fetch(`${ours.base}${q}`)).text();
      // SKS ends with a line holding only CR; our lines end as its others do.
      assert.ok(theirs.endsWith('\n\r\n'), name);
      const sksLines = theirs.slice(0, -2).split('\n').filter((l) => l !== '');
      const ourLines = mine.split('\n').filter((l) => l !== '');
      const normal = (line: string) => {
        const f = line.split(':');
        // 1. SKS counts an EdDSA or ECDH key's bits as 256; GnuPG (and we) as 255.
        if (f[0] === 'pub' && (f[2] === '22' || f[2] === '18') && f[3] === '255') f[3] = '256';
        // 2. SKS never flags a key or user ID as expired, nor a user ID as revoked.
        if (f[0] === 'pub') f[6] = f[6].replace('e', '');
        if (f[0] === 'uid') f[4] = '';
        return f.join(':');
      };
      // 3. We list the primary user ID first; SKS keeps certificate order.
      const sorted = (lines: string[]) => [...lines.slice(0, 2), ...lines.slice(2).sort()];
      assert.deepEqual(sorted(ourLines.map(normal)), sorted(sksLines), name);
    }
  });

  test('what those differences are, on the fixtures that show them', async () => {
    const get = async (name: string) => (await (await fetch(`${ours.base}/pks/lookup?op=index&options=mr&search=0x${index[name].fpr}`)).text()).split('\n');
    assert.match((await get('alice'))[1], /^pub:[0-9A-F]{40}:22:255:/);
    // renewed expired in 2024; expired in 2022: both expired by the clock.
    assert.match((await get('renewed'))[1], /:1714435200:e$/);
    const uma = await get('uid-revoked');
    assert.equal(uma[2], 'uid:Uma <uma@example.com>:1640995200::');
    assert.equal(uma[3], 'uid:Uma <uma@old.example.net>:1640995200::r');
  });
});
