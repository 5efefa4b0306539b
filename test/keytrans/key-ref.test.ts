/** Key references as the host tool and the translators take them: v4 and v6 alike. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRevokerId } from '../../src/host/revoker.js';
import { parseKeyRef } from '../../src/keytrans/key-ref.js';

const V4 = '0123456789ABCDEF0123456789ABCDEF01234567';
const V6 = `FEDCBA9876543210${'1'.repeat(48)}`;

describe('parseKeyRef', () => {
  it('a v4 key by key ID, short ID, fingerprint or any tail, 0x and case as typed', () => {
    for (const t of [V4, V4.slice(-16), `0x${V4.slice(-8).toLowerCase()}`, V4.slice(-12), ` ${V4.slice(-20)} `]) assert.ok(parseKeyRef(t)?.matches(V4), t);
    assert.equal(parseKeyRef('0x1234')?.hex, '1234');
    assert.equal(parseKeyRef('89AB')?.matches(V4), false);
  });
  it('a v6 key by its key ID (the leading 16 digits) and by its fingerprint', () => {
    assert.ok(parseKeyRef(V6.slice(0, 16))?.matches(V6));
    assert.ok(parseKeyRef(V6.toLowerCase())?.matches(V6));
    assert.equal(parseKeyRef(V6.slice(0, 16))?.matches(V4), false);
  });
  it('not hex, too short or too long: undefined', () => {
    assert.equal(parseKeyRef('xyz'), undefined);
    assert.equal(parseKeyRef('ABCD', 8), undefined);
    assert.equal(parseKeyRef('A'.repeat(65)), undefined);
    assert.equal(parseKeyRef(''), undefined);
  });
});

describe('parseRevokerId', () => {
  it('takes key IDs and v4 or v6 fingerprints, refuses short IDs', () => {
    assert.equal(parseRevokerId(`0x${V4.slice(-16)}`).kind, 'keyid');
    assert.equal(parseRevokerId(V6).kind, 'fingerprint');
    assert.throws(() => parseRevokerId(V4.slice(-8)), /neither a file nor a key ID/);
  });
});
