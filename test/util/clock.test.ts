/**
 * The one clock (src/clock.ts): the forms of time users and tests write, gpg's
 * --faked-system-time form among them, all read as UTC; the test hook read in one place,
 * with a usage error naming the bad value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromDate, isoDate, parseTime, referenceTime, toDate } from '../../src/clock.js';
import { UsageError } from '../../src/errors.js';

const T = 1673740800; // 2023-01-15T00:00:00Z

describe('clock', () => {
  test('parseTime: Unix seconds, ISO 8601 with or without zone (UTC), a date alone, gpg\'s form', () => {
    for (const text of [String(T), '2023-01-15', '2023-01-15T00:00:00Z', '2023-01-15T00:00:00', '2023-01-15 00:00:00', '2023-01-15T01:00:00+01:00', '20230115T000000', '20230115T000000!', ' 2023-01-15 ']) {
      assert.equal(parseTime(text), T, text);
    }
    assert.equal(parseTime('2023-01-15T00:00:01.9Z'), T + 1, 'fractions are cut, not rounded');
  });

  test('parseTime: anything else is undefined, never a guess', () => {
    for (const text of ['', 'yesterday', '15/01/2023', '2023-13-01', '2023-02-30', '20231301T000000', '1e9', '-5', '2023-01-15T25:00:00Z']) {
      assert.equal(parseTime(text), undefined, JSON.stringify(text));
    }
  });

  test('referenceTime: the test hook when set, else the clock; a bad value is a usage error naming it', () => {
    assert.equal(referenceTime({ MONKEYSPHERE_TEST_NOW: '2023-01-15' }, () => 5), T);
    assert.equal(referenceTime({}, () => 5), 5);
    assert.equal(referenceTime({ MONKEYSPHERE_TEST_NOW: '' }, () => 5), 5);
    assert.throws(
      () => referenceTime({ MONKEYSPHERE_TEST_NOW: 'soon' }),
      (e: unknown) => e instanceof UsageError && e.code === 'MS_TEST_NOW' && e.message.includes('"soon"'),
    );
  });

  test('isoDate, toDate and fromDate agree', () => {
    assert.equal(isoDate(T), '2023-01-15');
    assert.equal(fromDate(toDate(T)), T);
    assert.equal(fromDate(new Date(T * 1000 + 999)), T);
  });
});
