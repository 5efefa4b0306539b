/**
 * Recon sessions (src/recon/session.ts): our two roles replayed against the SKS 1.1.6 traffic
 * in test/fixtures/recon must say byte for byte what SKS said; two of our sessions over a
 * loopback socket, on memory trees, must each recover exactly what it lacks, deep recursion
 * included; and a peer sending garbage, oversized counts, nothing at all, or hanging up
 * mid-session must end the session with a typed error, promptly, with no stray rejection.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EnvironmentError, MsError } from '../../src/errors.js';
import { Bitstring } from '../../src/recon/bitstring.js';
import { isBusyRefusal, type LocalConfig, SKS_VERSION } from '../../src/recon/config.js';
import { MemoryPrefixTree } from '../../src/recon/memory-tree.js';
import { type PrefixNode, type PrefixTree, splitThreshold } from '../../src/recon/ptree.js';
import { type Role, type RunOptions, runSession, type SessionResult } from '../../src/recon/session.js';
import { decodeBody, encodeMessage, encodeString, type ReconMessage } from '../../src/recon/wire.js';
import { zpFromDigest } from '../../src/recon/zp.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/recon/', import.meta.url));

const stray: unknown[] = [];
const onStray = (e: unknown) => stray.push(e);
before(() => process.on('unhandledRejection', onStray));
after(() => {
  process.off('unhandledRejection', onStray);
  assert.deepEqual(stray, [], 'unhandled rejections');
});

/** Deterministic element i of a named set: an MD5-sized value, as key digests are. */
function element(seed: string, i: number): bigint {
  return zpFromDigest(createHash('md5').update(`${seed}/${i}`).digest());
}

async function treeOf(elements: Iterable<bigint>): Promise<MemoryPrefixTree> {
  const t = new MemoryPrefixTree();
  for (const e of elements) await t.insert(e);
  return t;
}

const CONFIG: LocalConfig = { version: SKS_VERSION, httpPort: 11371, bitQuantum: 2, mbar: 5, filters: ['yminsky.dedup', 'yminsky.merge'] };

const sorted = (xs: Iterable<bigint>) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function assertCode(err: unknown, ...codes: string[]): true {
  assert.ok(err instanceof MsError, `not an MsError: ${err instanceof Error ? err.stack : err}`);
  assert.ok(codes.includes(err.code), `${err.code}: ${err.message}`);
  return true;
}

// ---------------------------------------------------------------------------------------
// Replaying SKS

/** A connection that reads `input` and records what is written. */
function replayConn(input: Buffer): { conn: Duplex; written: Buffer[] } {
  const written: Buffer[] = [];
  const conn = new Duplex({
    read() {
      this.push(input);
      this.push(null);
    },
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      cb();
    },
  });
  return { conn, written };
}

describe('recon session: replayed against SKS 1.1.6', () => {
  for (const name of ['small', 'full', 'solved', 'split']) {
    const meta = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8'));
    const zs = (hex: string[]) => hex.map((h) => zpFromDigest(Buffer.from(h, 'hex')));
    const sides = {
      initiator: { file: 'initiator', peer: 'acceptor', role: 'initiator' as Role },
      acceptor: { file: 'acceptor', peer: 'initiator', role: 'responder' as Role },
    };
    for (const side of Object.values(sides)) {
      test(`${name}: as the ${side.file} we send exactly what SKS sent`, async () => {
        const tree = await treeOf(zs(meta[side.file].hashes));
        const config: LocalConfig = { ...CONFIG, filters: ['yminsky.dedup'], httpPort: meta[side.file].httpPort };
        const { conn, written } = replayConn(readFileSync(join(FIXTURES, `${name}.${side.peer}.bin`)));
        const result = await runSession(conn, side.role, tree, config, { readTimeoutMs: 2000 });
        assert.deepEqual(Buffer.concat(written), readFileSync(join(FIXTURES, `${name}.${side.file}.bin`)));
        assert.deepEqual(result.localMissing, sorted(zs(side.file === 'initiator' ? meta.acceptorOnly : meta.initiatorOnly)));
        assert.equal(result.peer.httpPort, meta[side.peer].httpPort);
        assert.equal(result.truncated, false);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------
// Two of our sessions over a socket

/** A connected pair of loopback sockets. */
async function socketPair(): Promise<[Socket, Socket]> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => srv.once('connection', r));
  const client = connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => client.once('connect', r).once('error', j));
  const server = await accepted;
  srv.close();
  return [client, server];
}

async function reconcilePair(a: PrefixTree, b: PrefixTree, opts: RunOptions = {}, optsB: RunOptions = opts): Promise<[SessionResult, SessionResult]> {
  const [ca, cb] = await socketPair();
  return Promise.all([runSession(ca, 'initiator', a, CONFIG, opts), runSession(cb, 'responder', b, CONFIG, optsB)]);
}

function setOf(seed: string, from: number, to: number): bigint[] {
  return Array.from({ length: to - from }, (_, i) => element(seed, from + i));
}

describe('recon session: two of ours over a socket', () => {
  const cases: [string, bigint[], bigint[]][] = [
    ['both empty', [], []],
    ['one side empty', [], setOf('s', 0, 30)],
    ['a few differences in a small set', setOf('s', 0, 12), [...setOf('s', 2, 12), ...setOf('t', 0, 3)]],
    ['4 differences in 300 (solved at the root)', setOf('s', 0, 302), [...setOf('s', 0, 300), ...setOf('t', 0, 2)]],
    ['40 differences in 600 (recursion)', [...setOf('s', 0, 600), ...setOf('a', 0, 25)], [...setOf('s', 0, 600), ...setOf('b', 0, 15)]],
    ['300 against 2000 (deep recursion, many full nodes)', setOf('s', 0, 300), setOf('s', 0, 2000)],
    ['disjoint 200 and 250', setOf('a', 0, 200), setOf('b', 0, 250)],
  ];
  for (const [name, xs, ys] of cases) {
    test(`exact symmetric difference: ${name}`, async () => {
      const [ra, rb] = await reconcilePair(await treeOf(xs), await treeOf(ys));
      const X = new Set(xs);
      const Y = new Set(ys);
      assert.deepEqual(ra.localMissing, sorted(ys.filter((y) => !X.has(y))));
      assert.deepEqual(rb.localMissing, sorted(xs.filter((x) => !Y.has(x))));
      // What each says the other lacks is true, and together they cover it.
      for (const e of ra.peerMissing) assert.ok(X.has(e) && !Y.has(e));
      for (const e of rb.peerMissing) assert.ok(Y.has(e) && !X.has(e));
      assert.deepEqual(sorted(new Set([...ra.peerMissing, ...rb.localMissing])), rb.localMissing);
      assert.equal(ra.truncated || rb.truncated, false);
      assert.equal(ra.peer.httpPort, CONFIG.httpPort);
    });
  }

  test('random sets, both roles', async () => {
    let seed = 1;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 4; round++) {
      const common = setOf(`c${round}`, 0, Math.floor(rnd() * 400));
      const xs = [...common, ...setOf(`x${round}`, 0, Math.floor(rnd() * 30))];
      const ys = [...common, ...setOf(`y${round}`, 0, Math.floor(rnd() * 30))];
      for (const [a, b] of [
        [xs, ys],
        [ys, xs],
      ]) {
        const [ra, rb] = await reconcilePair(await treeOf(a), await treeOf(b));
        assert.deepEqual(ra.localMissing, sorted(b.filter((e) => !a.includes(e))));
        assert.deepEqual(rb.localMissing, sorted(a.filter((e) => !b.includes(e))));
      }
    }
  });

  test('maxRecover caps what one session recovers, on both sides', async () => {
    const big = setOf('s', 0, 900);
    const [ra, rb] = await reconcilePair(await treeOf([]), await treeOf(big), { maxRecover: 100 });
    assert.ok(ra.truncated);
    assert.ok(ra.localMissing.length <= 100);
    // The responder asked for less after its own cap: nothing it is missing here, so no cut.
    assert.equal(rb.localMissing.length, 0);
    const [rc, rd] = await reconcilePair(await treeOf(big), await treeOf(setOf('s', 0, 500)), {}, { maxRecover: 50 });
    assert.equal(rc.localMissing.length, 0);
    assert.ok(rd.truncated);
    assert.ok(rd.localMissing.length <= 50 && rd.localMissing.length > 0);
    for (const e of rd.localMissing) assert.ok(big.includes(e));
  });

  test('mismatched mbar: both refuse, saying why', async () => {
    const other = new MemoryPrefixTree({ bitQuantum: 2, mbar: 6, threshMult: 10, numSamples: 7 });
    const [ca, cb] = await socketPair();
    const results = await Promise.allSettled([
      runSession(ca, 'initiator', await treeOf([]), CONFIG),
      runSession(cb, 'responder', other, { ...CONFIG, mbar: 6 }),
    ]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assertCode(r.reason, 'MS_RECON_CONFIG', 'MS_RECON_CONFIG_REJECTED');
      assert.match(String((r.reason as MsError).data.reason), /mbar values do not match/);
    }
  });

  test('a busy peer refuses; the other side sees its reason', async () => {
    const [ca, cb] = await socketPair();
    const results = await Promise.allSettled([
      runSession(ca, 'initiator', await treeOf([]), CONFIG),
      runSession(cb, 'responder', await treeOf([]), CONFIG, { refuse: 'sync not available, currently mutating' }),
    ]);
    assert.equal(results[0].status, 'rejected');
    const err = (results[0] as PromiseRejectedResult).reason;
    assertCode(err, 'MS_RECON_CONFIG_REJECTED');
    assert.ok(err instanceof EnvironmentError);
    assert.ok(isBusyRefusal(err));
    assert.equal(results[1].status, 'rejected');
    assertCode((results[1] as PromiseRejectedResult).reason, 'MS_RECON_CONFIG');
  });
});

// ---------------------------------------------------------------------------------------
// Hostile and broken peers

const FAST: RunOptions = { readTimeoutMs: 300, deadlineMs: 5000 };

/** Runs our side against a scripted peer socket; resolves with our outcome (the error it ended with). */
async function against(role: Role, script: (peer: Socket) => void | Promise<void>, tree?: PrefixTree): Promise<{ err: unknown }> {
  const [ours, peer] = await socketPair();
  peer.on('error', () => {});
  const run = runSession(ours, role, tree ?? (await treeOf(setOf('s', 0, 120))), CONFIG, FAST).then(
    () => undefined,
    (e: unknown) => e,
  );
  await script(peer);
  const err = await run;
  peer.destroy();
  assert.ok(ours.destroyed || ours.writableEnded, 'our socket is closed');
  return { err };
}

/** The peer's opening: its Config and `passed`. */
const HELLO = Buffer.concat([
  encodeMessage({
    type: 'Config',
    entries: [
      ['bitquantum', Buffer.from([0, 0, 0, 2])],
      ['filters', Buffer.from('yminsky.dedup,yminsky.merge')],
      ['http port', Buffer.from([0, 0, 0x2c, 0x8b])],
      ['mbar', Buffer.from([0, 0, 0, 5])],
      ['version', Buffer.from('1.1.6')],
    ],
  }),
  encodeString('passed'),
]);

function int(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

describe('recon session: hostile and broken peers', () => {
  for (const role of ['initiator', 'responder'] as Role[]) {
    test(`${role}: random bytes`, async () => {
      for (let i = 0; i < 20; i++) {
        const junk = createHash('sha512').update(`junk${i}`).digest();
        const { err } = await against(role, (p) => {
          p.write(i % 2 ? junk : Buffer.concat([HELLO, junk]));
        });
        assertCode(err, 'MS_RECON_MALFORMED', 'MS_RECON_LIMIT', 'MS_RECON_PROTOCOL', 'MS_RECON_TIMEOUT', 'MS_RECON_CLOSED', 'MS_RECON_CONFIG');
      }
    });

    test(`${role}: a huge element count and a huge frame length`, async () => {
      const count = await against(role, (p) => {
        p.write(Buffer.concat([HELLO, int(5), Buffer.of(role === 'initiator' ? 1 : 2), int(0x7ffffff0)]));
      });
      assertCode(count.err, 'MS_RECON_LIMIT', 'MS_RECON_MALFORMED');
      const frame = await against(role, (p) => {
        p.write(Buffer.concat([HELLO, int(0x7fffffff)]));
      });
      assertCode(frame.err, 'MS_RECON_LIMIT');
    });

    test(`${role}: wrong lengths inside a message`, async () => {
      // Elements claiming 3 elements but carrying 2.
      const body = Buffer.concat([Buffer.of(2), int(3), Buffer.alloc(34)]);
      const { err } = await against(role, (p) => {
        p.write(Buffer.concat([HELLO, int(body.length), body]));
      });
      assertCode(err, 'MS_RECON_MALFORMED', 'MS_RECON_PROTOCOL');
    });

    test(`${role}: a peer that stalls after its config`, async () => {
      const { err } = await against(role, (p) => {
        p.write(HELLO);
      });
      assertCode(err, 'MS_RECON_TIMEOUT');
    });

    test(`${role}: a peer that hangs up mid-protocol`, async () => {
      const { err } = await against(role, (p) => {
        p.end(Buffer.concat([HELLO, int(40), Buffer.of(2)]));
      });
      assertCode(err, 'MS_RECON_CLOSED');
    });

    test(`${role}: a peer that never says anything`, async () => {
      const { err } = await against(role, () => {});
      assertCode(err, 'MS_RECON_TIMEOUT');
    });

    test(`${role}: a peer's Error message`, async () => {
      const { err } = await against(role, (p) => {
        p.write(Buffer.concat([HELLO, encodeMessage({ type: 'Error', text: 'no such node' })]));
      });
      assertCode(err, 'MS_RECON_PEER_ERROR');
    });
  }

  test('initiator: a request for a prefix that is not whole levels', async () => {
    const { err } = await against('initiator', (p) => {
      p.write(Buffer.concat([HELLO, encodeMessage({ type: 'ReconRqstFull', prefix: Bitstring.parse('1'), elements: [] })]));
    });
    assertCode(err, 'MS_RECON_PROTOCOL');
  });

  test('responder: an answer that is not one (Done for a request)', async () => {
    const { err } = await against('responder', (p) => {
      p.write(Buffer.concat([HELLO, encodeMessage({ type: 'Done' })]));
    });
    assertCode(err, 'MS_RECON_PROTOCOL');
  });

  test('the session deadline ends a peer that trickles bytes', async () => {
    const [ours, peer] = await socketPair();
    peer.on('error', () => {});
    const run = runSession(ours, 'initiator', await treeOf([]), CONFIG, { readTimeoutMs: 1000, deadlineMs: 600 });
    const bytes = Buffer.concat([HELLO, encodeMessage({ type: 'Elements', elements: [1n, 2n, 3n] })]);
    let i = 0;
    const timer = setInterval(() => {
      if (i < bytes.length && !peer.destroyed) peer.write(bytes.subarray(i, ++i));
    }, 50);
    await assert.rejects(run, (e) => assertCode(e, 'MS_RECON_TIMEOUT'));
    clearInterval(timer);
    peer.destroy();
  });
});


// ---------------------------------------------------------------------------------------
// Bounds: what a member peer can make one session read, hold and send

/**
 * A view of `tree` that counts the elements read from it and, at each leaf read, notes how
 * many turns a setImmediate ticker has run: if it moved between the first and last read of
 * one walk, the walk let the event loop run (reads of a memory tree only queue microtasks).
 */
function watched(tree: PrefixTree) {
  const stats = { elementsRead: 0, ticksAtReads: [] as number[] };
  let ticks = 0;
  let running = true;
  const tick = () => {
    ticks++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const wrap = (n: PrefixNode): PrefixNode => ({
    key: n.key,
    isLeaf: n.isLeaf,
    size: n.size,
    svalues: n.svalues,
    children: async () => (await n.children()).map(wrap),
    elements: async () => {
      const els = await n.elements();
      stats.elementsRead += els.length;
      stats.ticksAtReads.push(ticks);
      return els;
    },
  });
  const view: PrefixTree = {
    settings: tree.settings,
    points: tree.points,
    root: async () => wrap(await tree.root()),
    node: async (key) => wrap(await tree.node(key)),
    insert: (e) => tree.insert(e),
    remove: (e) => tree.remove(e),
    has: (e) => tree.has(e),
  };
  return {
    tree: view,
    stats,
    stop: () => {
      running = false;
    },
    /** Ticker turns between the first and last leaf read. */
    ticksDuringReads: () => stats.ticksAtReads[stats.ticksAtReads.length - 1] - stats.ticksAtReads[0],
  };
}

/** The messages we sent after our Config and its answer. */
function messagesAfterConfig(buf: Buffer): ReconMessage[] {
  let pos = 4 + buf.readUInt32BE(0);
  pos += 4 + buf.readUInt32BE(pos);
  const out: ReconMessage[] = [];
  while (pos < buf.length) {
    const n = buf.readUInt32BE(pos);
    out.push(decodeBody(buf.subarray(pos + 4, pos + 4 + n)));
    pos += 4 + n;
  }
  return out;
}

/** Runs our side against a peer that writes `script`'s bytes; gives our outcome and all we sent. */
async function scripted(role: Role, tree: PrefixTree, opts: RunOptions, bytes: Buffer[]) {
  const [ours, peer] = await socketPair();
  peer.on('error', () => {});
  const received: Buffer[] = [];
  peer.on('data', (b: Buffer) => received.push(b));
  const run = runSession(ours, role, tree, CONFIG, { ...FAST, ...opts }).then(
    (result) => ({ result, err: undefined }),
    (err: unknown) => ({ result: undefined, err }),
  );
  peer.write(Buffer.concat(bytes));
  const outcome = await run;
  await new Promise((r) => setTimeout(r, 20));
  peer.destroy();
  assert.ok(ours.destroyed || ours.writableEnded, 'our socket is closed');
  return { ...outcome, sent: messagesAfterConfig(Buffer.concat(received)) };
}

const fullRoot = encodeMessage({ type: 'ReconRqstFull', prefix: Bitstring.EMPTY, elements: [] });
const flush = encodeMessage({ type: 'Flush' });
const done = encodeMessage({ type: 'Done' });
const elementsOf = (m: ReconMessage | undefined) => (m && 'elements' in m ? m.elements : assert.fail(`not elements: ${m?.type}`));

describe('recon session: bounds against a hostile member peer', () => {
  const N = 20_000;
  const BUDGET = 4 * 2000;
  let big: MemoryPrefixTree;
  let leaf: number;
  before(async () => {
    big = await treeOf(setOf('big', 0, N));
    leaf = splitThreshold(big.settings);
  });

  test('initiator: Full requests for the root without a Flush end the session (MS_RECON_LIMIT), reading a bounded part of the tree', async () => {
    const w = watched(big);
    const { err, sent } = await scripted('initiator', w.tree, { deadlineMs: 20_000 }, [HELLO, ...Array<Buffer>(3000).fill(fullRoot)]);
    w.stop();
    assertCode(err, 'MS_RECON_LIMIT');
    assert.equal((err as MsError).data.max, 1000);
    // Nothing was flushed, and the 1000 answers held share one send budget: the first walk
    // reads up to it, the others stop at their first element (one leaf each).
    assert.deepEqual(sent, []);
    assert.ok(w.stats.elementsRead <= BUDGET + 1001 * leaf, `${w.stats.elementsRead} elements read`);
  });

  test('initiator: a smaller maxUnflushed is the cap; honest batches (101 requests, SKS) stay under the default', async () => {
    const small = await treeOf(setOf('s', 0, 120));
    const over = await scripted('initiator', small, { maxUnflushed: 10 }, [HELLO, ...Array<Buffer>(11).fill(fullRoot)]);
    assertCode(over.err, 'MS_RECON_LIMIT');
    const honest = await scripted('initiator', small, {}, [HELLO, ...Array<Buffer>(101).fill(fullRoot), flush, done]);
    assert.equal(honest.err, undefined);
    assert.equal(honest.sent.length, 101);
  });

  test('initiator: Full answers for a huge node are cut at the send budget, then empty', async () => {
    const w = watched(big);
    const { result, err, sent } = await scripted('initiator', w.tree, {}, [HELLO, fullRoot, flush, fullRoot, flush, done]);
    w.stop();
    assert.equal(err, undefined);
    assert.equal(sent.length, 2);
    const first = elementsOf(sent[0]);
    assert.equal(first.length, BUDGET);
    assert.deepEqual(first, sorted(first));
    assert.deepEqual(elementsOf(sent[1]), []);
    assert.equal(result?.peerMissing.length, BUDGET);
    assert.ok(w.stats.elementsRead <= BUDGET + 2 * leaf, `${w.stats.elementsRead} elements read`);
  });

  test('responder: FullElements for the root makes a reply cut at the send budget', async () => {
    const w = watched(big);
    const fullElements = encodeMessage({ type: 'FullElements', elements: [] });
    const { result, err, sent } = await scripted('responder', w.tree, { maxSendElements: 500 }, [HELLO, fullElements]);
    w.stop();
    assert.equal(err, undefined);
    assert.deepEqual(
      sent.map((m) => m.type),
      ['ReconRqstPoly', 'Flush', 'Elements', 'Done'],
    );
    assert.equal(elementsOf(sent[2]).length, 500);
    assert.equal(result?.peerMissing.length, 500);
    assert.ok(w.stats.elementsRead <= 500 + leaf, `${w.stats.elementsRead} elements read`);
  });

  for (const role of ['initiator', 'responder'] as Role[]) {
    test(`${role}: a walk of the whole tree lets the event loop run`, async () => {
      const w = watched(big);
      const script =
        role === 'initiator' ? [HELLO, fullRoot, flush, done] : [HELLO, encodeMessage({ type: 'FullElements', elements: [] })];
      const { err, sent } = await scripted(role, w.tree, { maxSendElements: N }, script);
      w.stop();
      assert.equal(err, undefined);
      assert.equal(elementsOf(sent[role === 'initiator' ? 0 : 2]).length, N);
      assert.ok(w.stats.elementsRead >= N);
      assert.ok(w.ticksDuringReads() >= 2, `${w.ticksDuringReads()} ticker turns during the walk`);
    });
  }
});
