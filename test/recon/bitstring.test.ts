/**
 * Bit strings (src/recon/bitstring.ts): the bit order SKS and conflux place elements by, the
 * child numbering, and the wire form of a prefix (SKS reconMessages.ml, conflux messages.go).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Bitstring,
  childIndex,
  childKey,
  decodeBitstring,
  ELEMENT_BITS,
  elementBit,
  elementHasPrefix,
  encodeBitstring,
} from '../../src/recon/bitstring.js';
import { zpFromDigest, zpReduce } from '../../src/recon/zp.js';

describe('Bitstring', () => {
  test('bits are most significant first within each byte (SKS Bitstring.get, conflux Get)', () => {
    const bs = Bitstring.fromBytes(Uint8Array.of(0b10110000, 0b01000000), 10);
    assert.equal(bs.toString(), '1011000001');
    assert.equal(bs.get(0), 1);
    assert.equal(bs.get(1), 0);
    assert.equal(bs.get(9), 1);
    assert.throws(() => bs.get(10), RangeError);
    assert.equal(bs.toBytes().toString('hex'), 'b040');
  });

  test('unused bits are cleared, so equal prefixes compare equal', () => {
    const a = Bitstring.fromBytes(Uint8Array.of(0xff), 3);
    assert.equal(a.toBytes().toString('hex'), 'e0');
    assert.ok(a.equals(Bitstring.parse('111')));
    assert.ok(!a.equals(Bitstring.parse('1110')));
    assert.ok(Bitstring.fromBytes(new Uint8Array(0), 4).equals(Bitstring.parse('0000')));
  });

  test('parse, prefix, append, isPrefixOf', () => {
    const bs = Bitstring.parse('0110100111');
    assert.equal(bs.length, 10);
    assert.equal(bs.prefix(4).toString(), '0110');
    assert.equal(bs.append(0b10, 2).toString(), '011010011110');
    assert.equal(Bitstring.EMPTY.append(3, 2).toString(), '11');
    assert.ok(bs.prefix(7).isPrefixOf(bs));
    assert.ok(Bitstring.EMPTY.isPrefixOf(bs));
    assert.ok(!Bitstring.parse('0111').isPrefixOf(bs));
    assert.ok(!bs.isPrefixOf(bs.prefix(3)));
    assert.throws(() => Bitstring.parse('012'), RangeError);
  });

  test("an element's bits are those of its little-endian wire bytes", () => {
    // Digest byte 0 = 0xb4 = 1011 0100: the first bits of the element, so depth 0 is child 0b10.
    const z = zpFromDigest(Buffer.from(`b4${'00'.repeat(14)}81`, 'hex'));
    const bits = Bitstring.ofElement(z);
    assert.equal(bits.length, ELEMENT_BITS);
    assert.equal(bits.prefix(8).toString(), '10110100');
    assert.equal(bits.toString().slice(120, 128), '10000001');
    for (let i = 0; i < ELEMENT_BITS; i++) assert.equal(elementBit(z, i), bits.get(i), `bit ${i}`);
  });

  test('child index reads bitQuantum bits most significant first (SKS PrefixTree.string_index)', () => {
    const z = zpFromDigest(Buffer.from(`b4c3${'00'.repeat(14)}`, 'hex')); // 10 11 01 00 | 11 00 00 11
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((d) => childIndex(z, d, 2)),
      [0b10, 0b11, 0b01, 0b00, 0b11, 0b00, 0b00, 0b11],
    );
    // bitquantum 3 straddles bytes, as string_index's two-byte case: bits 6..8 = 0,0,1.
    assert.equal(childIndex(z, 2, 3), 0b001);
    assert.equal(childIndex(z, 0, 1), 1);
    const key = Bitstring.parse('1011');
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => childKey(key, i, 2).toString()),
      ['101100', '101101', '101110', '101111'],
    );
    assert.ok(elementHasPrefix(z, Bitstring.parse('1011010011')));
    assert.ok(!elementHasPrefix(z, Bitstring.parse('1011010010')));
    assert.ok(elementHasPrefix(z, Bitstring.EMPTY));
  });

  test('child of the element agrees with its prefix at every depth', () => {
    const z = zpReduce(0x1234567890abcdef1122334455667788n);
    const bits = Bitstring.ofElement(z);
    let key = Bitstring.EMPTY;
    for (let d = 0; d < 20; d++) {
      key = childKey(key, childIndex(z, d, 2), 2);
      assert.ok(key.equals(bits.prefix(2 * d + 2)));
    }
  });
});

describe('prefix wire form', () => {
  test('int32 bit length, int32 byte count, bytes (SKS marshal_bitstring, conflux WriteBitstring)', () => {
    assert.equal(encodeBitstring(Bitstring.parse('101')).toString('hex'), '00000003' + '00000001' + 'a0');
    assert.equal(encodeBitstring(Bitstring.EMPTY).toString('hex'), '00000000' + '00000000');
    assert.equal(encodeBitstring(Bitstring.parse('1111111101')).toString('hex'), '0000000a' + '00000002' + 'ff40');
  });

  test('round trip, with an offset and what follows', () => {
    for (const s of ['', '0', '10', '1100', '10101010', '111000111000111', '0'.repeat(136)]) {
      const enc = Buffer.concat([Buffer.from('ee', 'hex'), encodeBitstring(Bitstring.parse(s)), Buffer.from('ff', 'hex')]);
      const { value, next } = decodeBitstring(enc, 1);
      assert.equal(value.toString(), s);
      assert.equal(enc[next], 0xff);
    }
  });

  test('lenient byte counts as conflux ReadBitstring; malformed lengths throw', () => {
    // 4 bits with 2 bytes: the extra byte is ignored, bits past the length cleared.
    assert.equal(decodeBitstring(Buffer.from('00000004' + '00000002' + 'ffff', 'hex')).value.toString(), '1111');
    assert.equal(decodeBitstring(Buffer.from('00000004' + '00000000', 'hex')).value.toString(), '0000');
    for (const hex of ['000000', 'ffffffff00000000', '0000000400000002ff', '000001000000000' + '0']) {
      assert.throws(() => decodeBitstring(Buffer.from(hex, 'hex')), { code: 'MS_RECON_MALFORMED' }, hex);
    }
  });
});
