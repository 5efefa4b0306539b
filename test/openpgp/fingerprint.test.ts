/** The fingerprint and key-ID module: every form users type, v4 and v6, and the errors. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import {
  asFingerprint,
  fingerprintVersion,
  formatFingerprint,
  idMatches,
  isFingerprint,
  keyIdOf,
  normalizeHex,
  parseFingerprint,
  parseHexTail,
  parseKeySpec,
  shortIdOf,
  specMatches,
} from '../../src/openpgp/fingerprint.js';

const V4 = '0123456789ABCDEF0123456789ABCDEF89ABCDEF';
const V6 = 'AAAABBBBCCCCDDDD1111222233334444555566667777888899990000EEEEFFFF';

describe('key IDs', () => {
  test('v4: the low 64 bits; v6: the high 64 bits', () => {
    assert.equal(keyIdOf(V4), '89ABCDEF89ABCDEF');
    assert.equal(keyIdOf(V4), V4.slice(-16));
    assert.equal(keyIdOf(V6), 'AAAABBBBCCCCDDDD');
    assert.equal(keyIdOf(V6.toLowerCase()), 'AAAABBBBCCCCDDDD');
    assert.equal(fingerprintVersion(V4), 4);
    assert.equal(fingerprintVersion(V6), 6);
  });
  test('short IDs are the low half of the key ID (gpg keyid[1])', () => {
    assert.equal(shortIdOf(V4), '89ABCDEF');
    assert.equal(shortIdOf(V6), 'CCCCDDDD');
  });
});

describe('parsing what users type', () => {
  const forms: Array<[string, string, string]> = [
    [V4, 'fingerprint', V4],
    [V4.toLowerCase(), 'fingerprint', V4],
    [`0x${V4}`, 'fingerprint', V4],
    [`0X${V4.toLowerCase()}`, 'fingerprint', V4],
    [formatFingerprint(V4), 'fingerprint', V4],
    [`  ${formatFingerprint(V4)}  `, 'fingerprint', V4],
    [`${V4}!`, 'fingerprint', V4],
    [`0x${V4}!`, 'fingerprint', V4],
    [V6, 'fingerprint', V6],
    [formatFingerprint(V6).toLowerCase(), 'fingerprint', V6],
    [`0x${V6}`, 'fingerprint', V6],
    ['89ABCDEF89ABCDEF', 'keyid', '89ABCDEF89ABCDEF'],
    ['0x89abcdef89abcdef', 'keyid', '89ABCDEF89ABCDEF'],
    ['89AB CDEF 89AB CDEF', 'keyid', '89ABCDEF89ABCDEF'],
    ['89ABCDEF89ABCDEF!', 'keyid', '89ABCDEF89ABCDEF'],
    ['89abcdef', 'short', '89ABCDEF'],
    ['0x89ABCDEF', 'short', '89ABCDEF'],
  ];
  for (const [input, kind, hex] of forms) {
    test(JSON.stringify(input), () => {
      const spec = parseKeySpec(input);
      assert.equal(spec.kind, kind);
      assert.equal(spec.kind === 'fingerprint' ? spec.fpr : spec.kind === 'keyid' ? spec.keyId : spec.hex, hex);
      assert.equal(spec.exact, input.trim().endsWith('!'));
    });
  }
  test('parseFingerprint takes only whole fingerprints', () => {
    assert.equal(parseFingerprint(` 0x${V6.toLowerCase()} `), V6);
    assert.equal(parseFingerprint(formatFingerprint(V4)), V4);
    assert.throws(() => parseFingerprint('89ABCDEF89ABCDEF'), (e: unknown) => e instanceof InputError && e.code === 'MS_PGP_FINGERPRINT');
  });
  test('internal-form checks', () => {
    assert.ok(isFingerprint(V4));
    assert.ok(isFingerprint(V6));
    assert.ok(!isFingerprint(V4.toLowerCase()));
    assert.ok(!isFingerprint(V4.slice(1)));
    assert.equal(asFingerprint(V4.toLowerCase()), V4);
  });
  test('formatting groups of four', () => {
    assert.equal(formatFingerprint(V4), '0123 4567 89AB CDEF 0123 4567 89AB CDEF 89AB CDEF');
    assert.equal(formatFingerprint(V6).split(' ').length, 16);
  });
});

describe('errors name the problem', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['0x', /empty/],
    ['!', /empty/],
    ['89ABCDEG', /"G" is not a hex digit/],
    ['0x0x89ABCDEF', /"X" is not a hex digit/],
    ['89ABCDE', /7 hex digits/],
    ['89ABCDEF89', /10 hex digits/],
    ['0123456789ABCDEF0123456789ABCDEF', /32 hex digits/],
    [`${V4}00`, /42 hex digits/],
    [`${V6}00`, /66 hex digits/],
  ];
  for (const [input, why] of bad) {
    test(JSON.stringify(input), () => {
      assert.throws(
        () => parseKeySpec(input),
        (e: unknown) => e instanceof InputError && e.code === 'MS_PGP_KEYID' && why.test(e.message) && e.message.includes(JSON.stringify(input)),
      );
    });
  }
});

describe('matching', () => {
  test('a fingerprint matches exactly', () => {
    assert.ok(idMatches(V4, V4));
    assert.ok(idMatches(formatFingerprint(V6).toLowerCase(), V6));
    assert.ok(!idMatches(V4, V6));
  });
  test('a key ID matches per version', () => {
    assert.ok(idMatches(V4.slice(-16), V4));
    assert.ok(idMatches(V6.slice(0, 16), V6));
    assert.ok(!idMatches(V6.slice(-16), V6), 'the low 64 bits of a v6 fingerprint are not its key ID');
    assert.ok(!idMatches(V4.slice(0, 16), V4));
  });
  test('a short ID matches the low half of the key ID', () => {
    assert.ok(idMatches(V4.slice(-8), V4));
    assert.ok(idMatches('0xccccdddd', V6));
    assert.ok(!idMatches(V6.slice(-8), V6));
    assert.ok(!idMatches(V6.slice(0, 8), V6));
  });
  test('specMatches takes lower-case fingerprints', () => {
    assert.ok(specMatches(parseKeySpec(V6.slice(0, 16)), V6.toLowerCase()));
  });
});

describe('hex tails and free-form hex', () => {
  test('parseHexTail: any length from the minimum to 64, typed forms cleaned; else undefined', () => {
    assert.equal(parseHexTail('0x 12ab 34cd 56ef'), '12AB34CD56EF');
    assert.equal(parseHexTail('abc', 1), 'ABC');
    assert.equal(parseHexTail(V6.toLowerCase()), V6);
    for (const bad of ['1234567', 'xyz12345', '', `${V6}00`]) assert.equal(parseHexTail(bad), undefined, bad);
  });
  test('normalizeHex cleans without judging', () => {
    assert.equal(normalizeHex(' 0xdead beef! '), 'DEADBEEF');
    assert.equal(normalizeHex('not hex'), 'NOTHEX');
  });
});
