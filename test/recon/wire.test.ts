/**
 * The recon wire codec (src/recon/wire.ts) against real SKS 1.1.6 traffic
 * (test/fixtures/recon): every recorded message decodes and encodes back to the same bytes,
 * and carries the differences the two nodes had. Then the limits: malformed and oversized
 * input gives a typed error at once, a stalled or closed peer a typed error, never a hang.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MsError } from '../../src/errors.js';
import { Bitstring } from '../../src/recon/bitstring.js';
import { DEFAULT_LIMITS, decodeBody, encodeBody, encodeMessage, type ReconMessage, ReconChannel } from '../../src/recon/wire.js';
import { P, zpFromDigest } from '../../src/recon/zp.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/recon/', import.meta.url));
const SESSIONS = ['small', 'full', 'solved', 'split'] as const;

interface Recorded {
  config: ReconMessage;
  answer: string;
  messages: ReconMessage[];
  /** Each frame's bytes (length included), in order; the answer string is not a frame. */
  frames: Buffer[];
}

/** Splits a recorded stream: Config frame, bare answer string, then frames. */
function split(stream: Buffer): Recorded {
  const frames: Buffer[] = [];
  const bodies: Buffer[] = [];
  let answer = '';
  let pos = 0;
  for (let i = 0; pos < stream.length; i++) {
    const n = stream.readUInt32BE(pos);
    const whole = stream.subarray(pos, pos + 4 + n);
    pos += 4 + n;
    if (i === 1) answer = whole.subarray(4).toString('latin1');
    else {
      frames.push(whole);
      bodies.push(whole.subarray(4));
    }
  }
  const [config, ...messages] = bodies.map((b) => decodeBody(b));
  return { config, answer, messages, frames };
}

function load(name: string) {
  const meta = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as {
    initiatorOnly: string[];
    acceptorOnly: string[];
  };
  const z = (hex: string[]) => new Set(hex.map((h) => zpFromDigest(Buffer.from(h, 'hex'))));
  return {
    initiator: split(readFileSync(join(FIXTURES, `${name}.initiator.bin`))),
    acceptor: split(readFileSync(join(FIXTURES, `${name}.acceptor.bin`))),
    initiatorOnly: z(meta.initiatorOnly),
    acceptorOnly: z(meta.acceptorOnly),
  };
}

function elementsOf(msgs: ReconMessage[], type: 'Elements' | 'FullElements'): bigint[] {
  return msgs.flatMap((m) => (m.type === type ? [...m.elements] : []));
}

function assertCode(err: unknown, code: string): true {
  assert.ok(err instanceof MsError, `not an MsError: ${err}`);
  assert.equal(err.code, code, err.message);
  return true;
}

describe('recon wire: SKS 1.1.6 traffic', () => {
  for (const name of SESSIONS) {
    test(`${name}: every message decodes and encodes back to SKS's bytes`, () => {
      const s = load(name);
      for (const side of [s.initiator, s.acceptor]) {
        assert.equal(side.answer, 'passed');
        assert.equal(side.config.type, 'Config');
        for (const frame of side.frames) assert.deepEqual(encodeMessage(decodeBody(frame.subarray(4))), frame);
      }
    });
  }

  test('Config: five entries in key order, ints as 4-byte strings', () => {
    const { config } = load('small').initiator;
    assert.equal(config.type, 'Config');
    if (config.type !== 'Config') return;
    assert.deepEqual(
      config.entries.map(([k]) => k),
      ['bitquantum', 'filters', 'http port', 'mbar', 'version'],
    );
    const get = (k: string) => config.entries.find(([key]) => key === k)![1];
    assert.deepEqual(get('bitquantum'), Buffer.from([0, 0, 0, 2]));
    assert.deepEqual(get('mbar'), Buffer.from([0, 0, 0, 5]));
    assert.equal(get('version').toString(), '1.1.6');
    assert.equal(get('filters').toString(), 'yminsky.dedup');
  });

  test('small: a full request at the root, answered with what the acceptor lacks', () => {
    const s = load('small');
    assert.deepEqual(
      s.acceptor.messages.map((m) => m.type),
      ['ReconRqstFull', 'Flush', 'Done'],
    );
    const rq = s.acceptor.messages[0];
    assert.ok(rq.type === 'ReconRqstFull' && rq.prefix.length === 0 && rq.elements.length === 2);
    assert.deepEqual(new Set(elementsOf(s.initiator.messages, 'Elements')), s.initiatorOnly);
  });

  test('full: FullElements for a 140-key root, the acceptor answers with the 20 it has more', () => {
    const s = load('full');
    assert.deepEqual(
      s.initiator.messages.map((m) => m.type),
      ['FullElements'],
    );
    assert.equal(elementsOf(s.initiator.messages, 'FullElements').length, 140);
    assert.deepEqual(new Set(elementsOf(s.acceptor.messages, 'Elements')), s.acceptorOnly);
    const poly = s.acceptor.messages[0];
    assert.ok(poly.type === 'ReconRqstPoly' && poly.size === 160 && poly.samples.length === 6);
  });

  test('solved and split: interpolation at the root, and the recursion into its four children', () => {
    const solved = load('solved');
    assert.deepEqual(new Set(elementsOf(solved.initiator.messages, 'Elements')), solved.initiatorOnly);
    const s = load('split');
    assert.deepEqual(
      s.initiator.messages.map((m) => m.type),
      ['SyncFail', 'Elements', 'Elements', 'Elements', 'Elements'],
    );
    assert.deepEqual(new Set(elementsOf(s.initiator.messages, 'Elements')), s.initiatorOnly);
    const children = s.acceptor.messages.filter((m) => m.type === 'ReconRqstFull');
    assert.deepEqual(
      children.map((m) => (m.type === 'ReconRqstFull' ? m.prefix.toString() : '')),
      ['00', '01', '10', '11'],
    );
  });

  test('SKS sends the elements of a message in ascending order', () => {
    for (const name of SESSIONS) {
      const s = load(name);
      for (const m of [...s.initiator.messages, ...s.acceptor.messages]) {
        if (!('elements' in m)) continue;
        const sorted = [...m.elements].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        assert.deepEqual(m.elements, sorted, `${name} ${m.type}`);
      }
    }
  });
});

/** A frame with a raw body. */
function frame(body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

function int(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

describe('recon wire: malformed input', () => {
  test('an unknown message type', () => {
    assert.throws(() => decodeBody(Buffer.from([11])), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
    assert.throws(() => decodeBody(Buffer.from([255])), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
  });

  test('truncated bodies and trailing bytes', () => {
    const body = encodeBody({ type: 'Elements', elements: [1n, 2n, 3n] });
    for (let n = 1; n < body.length; n++) assert.throws(() => decodeBody(body.subarray(0, n)), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
    assert.throws(() => decodeBody(Buffer.concat([body, Buffer.of(0)])), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
    assert.throws(() => decodeBody(Buffer.of(5, 0)), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
  });

  test('an element not below p, a negative count', () => {
    const big = Buffer.alloc(17, 0xff);
    assert.throws(() => decodeBody(Buffer.concat([Buffer.of(2), int(1), big])), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
    const p = Buffer.alloc(17);
    let v = P;
    for (let i = 0; i < 17; i++, v >>= 8n) p[i] = Number(v & 0xffn);
    assert.throws(() => decodeBody(Buffer.concat([Buffer.of(2), int(1), p])), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
    assert.throws(() => decodeBody(Buffer.concat([Buffer.of(2), int(-1)])), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
  });

  test('huge element counts are refused before anything is allocated', () => {
    assert.throws(() => decodeBody(Buffer.concat([Buffer.of(2), int(0x7fffffff)])), (e) => assertCode(e, 'MS_RECON_LIMIT'));
    // Within the limit but more than the body holds.
    assert.throws(() => decodeBody(Buffer.concat([Buffer.of(3), int(1000)])), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
    assert.throws(() => decodeBody(Buffer.concat([Buffer.of(10), int(1_000_000)])), (e) => assertCode(e, 'MS_RECON_LIMIT'));
    assert.throws(() => decodeBody(Buffer.concat([Buffer.of(7), int(DEFAULT_LIMITS.maxStringBytes + 1)])), (e) => assertCode(e, 'MS_RECON_LIMIT'));
  });

  test('a prefix longer than an element, or with too few bytes', () => {
    assert.throws(() => decodeBody(Buffer.concat([Buffer.of(1), int(1000), int(125)])), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
    assert.throws(() => decodeBody(Buffer.concat([Buffer.of(1), int(8), int(4), Buffer.of(1)])), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
  });

  test('every message type round-trips', () => {
    const msgs: ReconMessage[] = [
      { type: 'ReconRqstPoly', prefix: Bitstring.parse('0110'), size: 77, samples: [0n, 1n, P - 1n] },
      { type: 'ReconRqstFull', prefix: Bitstring.parse('11'), elements: [5n, 1n << 127n] },
      { type: 'Elements', elements: [] },
      { type: 'FullElements', elements: [42n] },
      { type: 'SyncFail' },
      { type: 'Done' },
      { type: 'Flush' },
      { type: 'Error', text: 'oops ✓' },
      { type: 'DbRqst', text: 'q' },
      { type: 'DbRepl', text: 'r' },
      { type: 'Config', entries: [['a', Buffer.from('b')]] },
    ];
    for (const m of msgs) {
      const back = decodeBody(encodeBody(m));
      assert.deepEqual(encodeBody(back), encodeBody(m), m.type);
      assert.equal(back.type, m.type);
    }
  });
});

/** A duplex whose readable side we feed by hand and whose writes we keep. */
function fakeConn(): { conn: Duplex; feed: PassThrough; written: Buffer[] } {
  const feed = new PassThrough();
  const written: Buffer[] = [];
  const conn = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      cb();
    },
  });
  feed.on('data', (d: Buffer) => conn.push(d));
  feed.on('end', () => conn.push(null));
  return { conn, feed, written };
}

describe('recon wire: the channel', () => {
  test('messages split across chunks and bunched in one', async () => {
    const { conn, feed } = fakeConn();
    const ch = new ReconChannel(conn);
    const bytes = Buffer.concat([
      encodeMessage({ type: 'Elements', elements: [1n, 2n] }),
      encodeMessage({ type: 'Flush' }),
      Buffer.concat([int(6), Buffer.from('passed')]),
    ]);
    for (const b of bytes) feed.write(Buffer.of(b));
    assert.deepEqual(await ch.read(), { type: 'Elements', elements: [1n, 2n] });
    assert.deepEqual(await ch.read(), { type: 'Flush' });
    assert.equal(await ch.readString(), 'passed');
  });

  test('a frame longer than the limit fails before its body arrives', async () => {
    const { conn, feed } = fakeConn();
    const ch = new ReconChannel(conn, { limits: { maxMessageBytes: 1000 }, readTimeoutMs: 5000 });
    feed.write(int(1001));
    await assert.rejects(ch.read(), (e) => assertCode(e, 'MS_RECON_LIMIT'));
  });

  test('an empty frame, a negative length', async () => {
    const a = fakeConn();
    a.feed.write(int(0));
    await assert.rejects(new ReconChannel(a.conn).read(), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
    const b = fakeConn();
    b.feed.write(int(-5));
    await assert.rejects(new ReconChannel(b.conn).read(), (e) => assertCode(e, 'MS_RECON_MALFORMED'));
  });

  test('a stalled peer times out, mid-frame too', async () => {
    const { conn, feed } = fakeConn();
    const ch = new ReconChannel(conn, { readTimeoutMs: 100 });
    const t = Date.now();
    await assert.rejects(ch.read(), (e) => assertCode(e, 'MS_RECON_TIMEOUT'));
    feed.write(frame(Buffer.of(2)).subarray(0, 4));
    await assert.rejects(ch.read(), (e) => assertCode(e, 'MS_RECON_TIMEOUT'));
    assert.ok(Date.now() - t < 2000);
  });

  test('a peer closing mid-frame', async () => {
    const { conn, feed } = fakeConn();
    const ch = new ReconChannel(conn, { readTimeoutMs: 5000 });
    feed.end(encodeMessage({ type: 'Elements', elements: [1n] }).subarray(0, 10));
    await assert.rejects(ch.read(), (e) => assertCode(e, 'MS_RECON_CLOSED'));
  });

  test('what arrived before the close is still read', async () => {
    const { conn, feed } = fakeConn();
    const ch = new ReconChannel(conn, { readTimeoutMs: 5000 });
    feed.end(encodeMessage({ type: 'Done' }));
    assert.deepEqual(await ch.read(), { type: 'Done' });
    await assert.rejects(ch.read(), (e) => assertCode(e, 'MS_RECON_CLOSED'));
  });

  test('abort fails a pending read with the reason given', async () => {
    const { conn } = fakeConn();
    const ch = new ReconChannel(conn, { readTimeoutMs: 5000 });
    const pending = ch.read();
    ch.abort(new MsError('MS_TEST', 'stop'));
    await assert.rejects(pending, (e) => assertCode(e, 'MS_TEST'));
  });
});
