/**
 * Our keyservers syncing with each other over recon, in this process on loopback: two, then
 * three (one on PostgreSQL) converge on the union; a certificate and a revocation uploaded to
 * one reach the others; a flooded certificate arrives trimmed everywhere, and a peer that keeps
 * the flooded copy (as SKS does) has its digest remembered as refused and not fetched again;
 * garbage, stalling and strangers are dropped with a log line while HKP goes on answering.
 * Hostile members: back-to-back sessions whose fetches stall get "busy" (one fetch per peer,
 * one byte budget for all); an idle connection is not a session and a stalled session holds a
 * catch-up back only so long; elements that are not digests are dropped; refusals for being busy
 * are skipped attempts, not failures; strangers are logged once per address.
 * Syncs are run with the service's `syncWith` hook, not by waiting for the gossip timer.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { readCerts } from '../../src/openpgp/cert.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import { MemoryPrefixTree } from '../../src/recon/memory-tree.js';
import { isBusyRefusal } from '../../src/recon/config.js';
import { MsError } from '../../src/errors.js';
import { REFUSED_META } from '../../src/server/recon-refused.js';
import type { SyncReport } from '../../src/server/recon-service.js';
import { FLOOD_CREATED, FLOOD_NOW, floodCertifications, Holder, throwawayKeys, withSignatures } from '../helpers/flood.js';
import { PostgresServer } from '../helpers/postgres.js';
import { configBytes, KeepAllPeer, memberSession, OurServer, reconConnection, StallingHashquery } from '../helpers/recon-world.js';

const keys = throwawayKeys('recon-service', 0, 60);

/** A sync from `a` to `b`, then `b`'s side of it (it fetches from `a` too). */
async function sync(a: OurServer, b: { id: string; recon?: OurServer['recon'] }): Promise<SyncReport> {
  const r = await a.recon.syncWith(b.id);
  await b.recon?.settle();
  return r;
}

describe('two of our keyservers', () => {
  let a: OurServer;
  let b: OurServer;
  before(async () => {
    a = await OurServer.start({ address: '127.0.0.11', now: FLOOD_NOW });
    b = await OurServer.start({ address: '127.0.0.12', now: FLOOD_NOW });
    a.setPeers([b]);
    b.setPeers([a]);
    await a.upload(Buffer.concat(keys.slice(0, 30).map((k) => k.bytes)));
    await b.upload(Buffer.concat(keys.slice(20, 50).map((k) => k.bytes)));
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  test('converge on the union after one sync, checked through HKP on both sides', async () => {
    const r = await sync(a, b);
    assert.equal(r.ok, true, String(r.error));
    assert.equal(r.localMissing, 20);
    assert.equal(r.recovered?.stored, 20);
    const [da, db] = [await a.digests(), await b.digests()];
    assert.equal(da.size, 50);
    assert.deepEqual([...da].sort(), [...db].sort());
    for (const k of [keys[0], keys[29], keys[49]]) {
      assert.ok(await a.get(k.fpr), `a serves ${k.fpr}`);
      assert.ok(await b.get(k.fpr), `b serves ${k.fpr}`);
    }
    // Nothing more to do: the next sync finds no difference.
    const again = await sync(b, a);
    assert.equal(again.ok, true, String(again.error));
    assert.equal(again.localMissing + again.peerMissing, 0);
  });

  test('peers state in /metrics and op=stats', async () => {
    const metrics = await (await fetch(`${a.base}/metrics`)).text();
    assert.match(metrics, new RegExp(`keyserver_recon_sessions_total\\{instance="127.0.0.11:${a.reconPort}",peer="${b.id}"\\} [1-9]`));
    assert.match(metrics, new RegExp(`keyserver_recon_fetched_total\\{instance="127.0.0.11:${a.reconPort}",peer="${b.id}"\\} 20`));
    assert.match(metrics, /keyserver_recon_last_sync_seconds\{/);
    const stats = (await (await fetch(`${b.base}/pks/lookup?op=stats&options=mr`)).json()) as { recon: { instances: Record<string, { peers: { peer: string; fetched: number; lastSync?: number }[] }> } };
    const peer = stats.recon.instances[`127.0.0.12:${b.reconPort}`].peers.find((p) => p.peer === a.id);
    assert.equal(peer?.fetched, 20);
    assert.equal(peer?.lastSync, FLOOD_NOW);
    const text = await (await fetch(`${b.base}/pks/lookup?op=stats`)).text();
    assert.match(text, new RegExp(`${a.id}: last sync 2026-01-01T00:00:00.000Z`));
    // The web page's statistics show the same, per peer.
    const page = await (await fetch(`${b.base}/stats`)).text();
    const table = /<table id="recon-peers">[\s\S]*?<\/table>/.exec(page)?.[0] ?? '';
    assert.match(table, new RegExp(`<td>${a.id}</td><td class="muted">127\\.0\\.0\\.12:${b.reconPort}</td>`));
    assert.match(table, /<td>20<\/td>/);
  });
});

describe('three of our keyservers, one on PostgreSQL', () => {
  let pg: PostgresServer | undefined;
  let a: OurServer;
  let b: OurServer;
  let c: OurServer;
  let keep: KeepAllPeer;
  const victimUid = 'Victim <victim@recon.example>';
  const victim = new Holder('recon-victim', [victimUid]);
  const junk = floodCertifications(victim.cert, victimUid, 150, { seed: 'recon-junk', newest: FLOOD_NOW - 86400 });
  const flooded = withSignatures(victim.cert, victimUid, junk);
  const all = () => [a, b, c];

  before(async () => {
    pg = new PostgresServer();
    await pg.start();
    a = await OurServer.start({ address: '127.0.0.21', now: FLOOD_NOW });
    b = await OurServer.start({ address: '127.0.0.22', now: FLOOD_NOW });
    c = await OurServer.start({ address: '127.0.0.23', now: FLOOD_NOW, storeUrl: await pg.database() });
    keep = await KeepAllPeer.start('127.0.0.24');
    // A chain: a – b – c, and the keep-everything peer beside a; plus a member that misbehaves.
    a.setPeers([b, keep, { id: '127.0.0.25 1' }]);
    b.setPeers([a, c]);
    c.setPeers([b]);
    await a.upload(Buffer.concat(keys.slice(0, 10).map((k) => k.bytes)));
    await b.upload(Buffer.concat(keys.slice(10, 20).map((k) => k.bytes)));
    await c.upload(Buffer.concat(keys.slice(20, 30).map((k) => k.bytes)));
  });
  after(async () => {
    for (const s of [a, b, c]) await s?.stop();
    await keep?.stop();
    await pg?.stop();
  });

  async function gossipRound(): Promise<void> {
    for (const [x, y] of [
      [a, b],
      [b, c],
      [a, b],
    ] as const) {
      const r = await sync(x, y);
      assert.equal(r.ok, true, `${x.id} -> ${y.id}: ${String(r.error)}`);
    }
  }

  test('converge on the union', async () => {
    await gossipRound();
    const sets = await Promise.all(all().map((s) => s.digests()));
    for (const s of sets) assert.deepEqual([...s].sort(), [...sets[0]].sort());
    assert.equal(sets[0].size, 30);
    for (const s of all()) assert.ok(await s.get(keys[25].fpr));
  });

  test('a certificate uploaded to one reaches the others', async () => {
    await c.upload(keys[40].bytes);
    await gossipRound();
    for (const s of all()) assert.ok(await s.get(keys[40].fpr), `${s.address} serves it`);
  });

  test('a revocation uploaded to one reaches the others', async () => {
    const rev = keys[3].revocation(FLOOD_CREATED + 1000);
    await a.upload(rev);
    await gossipRound();
    const tail = rev.subarray(-40);
    for (const s of all()) {
      const served = await s.get(keys[3].fpr);
      assert.ok(served?.includes(tail), `${s.address} serves the revocation`);
    }
    const sets = await Promise.all(all().map((s) => s.digests()));
    for (const s of sets) assert.deepEqual([...s].sort(), [...sets[0]].sort());
  });

  test('a flooded certificate uploaded to one arrives trimmed everywhere', async () => {
    await a.upload(flooded);
    await gossipRound();
    const trimmed = new Set<string>();
    for (const s of all()) {
      const served = await s.get(victim.fpr);
      assert.ok(served, `${s.address} serves the victim`);
      const cert = readCerts(served).certs[0];
      assert.equal(cert.users[0].signatures.length, 1, `${s.address}: only the self-signature is served`);
      trimmed.add(sksDigest(served).toString('hex'));
    }
    assert.equal(trimmed.size, 1);
    assert.ok(!trimmed.has(sksDigest(flooded).toString('hex')));
  });

  test('the flooded copy a keep-everything peer offers is refused once, remembered, and not fetched again', async () => {
    const floodedDigest = await keep.add(flooded);
    const first = await sync(a, keep);
    assert.equal(first.ok, true, String(first.error));
    assert.deepEqual(first.recovered?.refused, { trimmed: 1 });
    assert.deepEqual(keep.asked, [floodedDigest]);
    // Older versions b offered while it caught up may be remembered too (superseded, unavailable).
    const record = JSON.parse((await a.store.meta.getMeta(REFUSED_META)) ?? '[]') as { digest: string; reason: string; at: number; fpr?: string; peer?: string }[];
    assert.deepEqual(
      record.filter((r) => r.digest === floodedDigest),
      [{ digest: floodedDigest, reason: 'trimmed', at: FLOOD_NOW, fpr: victim.fpr, peer: keep.id }],
    );
    // Still trimmed on a.
    assert.equal((await a.get(victim.fpr))?.length, victim.bytes.length);

    const second = await sync(a, keep);
    assert.equal(second.ok, true, String(second.error));
    assert.equal(second.localMissing, 1);
    assert.equal(second.recovered?.skipped, 1);
    assert.deepEqual(second.recovered?.refused, {});
    assert.deepEqual(keep.asked, [floodedDigest], 'nothing fetched the second time');
    const metrics = await (await fetch(`${a.base}/metrics`)).text();
    assert.match(metrics, /keyserver_recon_refused_digests\{reason="trimmed"\} 1/);
    assert.match(metrics, new RegExp(`keyserver_recon_skipped_total\\{instance="[^"]+",peer="${keep.id}"\\} 1`));
    const page = await (await fetch(`${a.base}/stats`)).text();
    assert.match(page, /refused \(not fetched again until they expire\):[^<]*\b1 trimmed\./);
    // Which certificate, why, and which peer offered it.
    const refusedTable = /<table id="recon-refused">[\s\S]*?<\/table>/.exec(page)?.[0] ?? '';
    assert.match(refusedTable, new RegExp(`<td>trimmed</td><td><a [^>]*${victim.fpr}[^>]*>[\\s\\S]*?</a></td><td>${keep.id}</td>`));
  });

  /** A connection to a's recon port from `from`. */
  function rawPeer(from: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: a.address, port: a.reconPort, localAddress: from }, () => resolve(s));
      s.on('error', reject);
      // Flowing, so the end of the connection is seen.
      s.resume();
    });
  }

  async function until(what: string, cond: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(cond(), what);
  }

  test('a stranger is closed with a log line', async () => {
    const s = await rawPeer('127.0.0.26');
    await new Promise<void>((r) => s.on('close', () => r()));
    assert.ok(a.log.has(/refused a connection from 127\.0\.0\.26: not in the membership file/));
  });

  test('a member sending garbage is dropped with a log line; HKP and recon go on', async () => {
    const s = await rawPeer('127.0.0.25');
    s.on('error', () => {});
    s.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(3)));
    await new Promise<void>((r) => s.on('close', () => r()));
    await a.recon.settle();
    await until('garbage logged', () => a.log.has(/recon with 127\.0\.0\.25 1 \(incoming\) failed: .*\[MS_RECON_(MALFORMED|LIMIT|PROTOCOL)\]/));
    assert.equal((await fetch(`${a.base}/pks/health`)).status, 200);
    const r = await sync(a, b);
    assert.equal(r.ok, true, String(r.error));
  });

  test('a member that stalls is dropped after the read timeout, while HKP answers', async () => {
    const s = await rawPeer('127.0.0.25');
    s.on('error', () => {});
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    // Meanwhile HKP answers at once.
    assert.equal((await fetch(`${a.base}/pks/lookup?op=get&options=mr&search=0x${keys[0].fpr}`)).status, 200);
    await closed;
    await a.recon.settle();
    assert.ok(a.log.has(/recon with 127\.0\.0\.25 1 \(incoming\) failed: .*\[MS_RECON_TIMEOUT\]/), a.log.lines.join('\n'));
    const r = await sync(a, b);
    assert.equal(r.ok, true, String(r.error));
  });
});

describe('hostile members', () => {
  let h: OurServer;
  let stall: StallingHashquery;
  const members = ['127.0.0.32', '127.0.0.33', '127.0.0.34'];
  const CAP = 64 * 1024;

  /** A tree of `n` elements we lack (random digests). */
  function treeOf(n: number, seed: number): Promise<MemoryPrefixTree> {
    const t = new MemoryPrefixTree();
    return (async () => {
      for (let i = 0; i < n; i++) await t.insert((BigInt(seed) << 64n) + BigInt(i * 7919 + 13));
      return t;
    })();
  }

  async function until(what: string, cond: () => boolean): Promise<void> {
    for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(cond(), `${what}\n${h.log.lines.join('\n')}`);
  }

  const stateOf = async (id: string) => (await h.recon.peerStates()).find((p) => p.peer === id);

  before(async () => {
    h = await OurServer.start({
      address: '127.0.0.31',
      now: FLOOD_NOW,
      recon: {
        maxIncoming: 4,
        fetchBudgetBytes: 2 * CAP,
        recover: { hashquery: { maxBytes: CAP, timeoutMs: 1_500 } },
        catchUpWaitMs: 300,
        configTimeoutMs: 30_000,
        session: { readTimeoutMs: 30_000 },
      },
    });
    h.setPeers(members.map((m) => ({ id: `${m} 11370` })));
    stall = await StallingHashquery.start(members);
  });
  after(async () => {
    await h?.stop();
    await stall?.stop();
  });

  test('back-to-back sessions of one member whose answers stall: one fetch, the rest answered busy and counted as skipped', async () => {
    const tree = await treeOf(3, 1);
    const first = await memberSession(members[0], h, tree, stall.port);
    assert.equal(first.peerMissing.length, 3, 'it learns we lack its 3 elements');
    await until('the fetch is under way', () => stall.open === 1);
    for (let i = 0; i < 4; i++) {
      await assert.rejects(memberSession(members[0], h, tree, stall.port), (e) => isBusyRefusal(e));
    }
    assert.equal(stall.most, 1);
    const st = await stateOf(`${members[0]} 11370`);
    assert.equal(st?.busy, 4);
    assert.equal(st?.failures, 0, 'our busy answers are not its failures');
    assert.equal(st?.lastError, undefined);
    await h.recon.settle();
    await until('the stalled request is closed', () => stall.open === 0);
    // The stalled fetch itself is a failure, with its reason.
    assert.match((await stateOf(`${members[0]} 11370`))?.lastError ?? '', /no complete answer within 1500 ms/);
  });

  test('three members whose answers stall: the fetches in flight stay within the shared byte budget', async () => {
    stall.most = 0;
    stall.total = 0;
    const trees = await Promise.all(members.map((_, i) => treeOf(2, 10 + i)));
    await Promise.all(members.map((m, i) => memberSession(m, h, trees[i], stall.port)));
    await until('a fetch waits for the budget', () => h.recon.fetchBudget.waiting === 1);
    await until('two requests held', () => stall.open === 2);
    assert.equal(h.recon.fetchBudget.inUse, 2 * CAP);
    // Back-to-back sessions meanwhile: each member has its slot, so each is answered busy.
    for (const [i, m] of members.entries()) await assert.rejects(memberSession(m, h, trees[i], stall.port), (e) => isBusyRefusal(e));
    await h.recon.settle();
    assert.equal(stall.most, 2);
    assert.equal(stall.total, 3, 'the third fetch ran once one was done');
    assert.equal(h.recon.fetchBudget.inUse, 0);
  });

  test('an idle connection from a member is not a session: catch-up and gossip do not wait for it', async () => {
    const idle = await reconConnection(members[1], h);
    idle.on('error', () => {});
    let closed = false;
    idle.on('close', () => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    await h.upload(keys[55].bytes);
    const seq = await h.recon.catchUp();
    assert.equal(seq, await h.store.changes.latest());
    assert.equal(closed, false, 'still open: nothing waited for it');
    // A gossip round meanwhile (the peer refuses it: no recon there) is not held up either.
    const r = await h.recon.syncWith(`${members[2]} 11370`);
    assert.equal(r.ok, false);
    assert.equal(closed, false);
    idle.destroy();
  });

  test('a member that sends its Config and stalls holds a catch-up back at most catchUpWaitMs', async () => {
    const sock = await reconConnection(members[1], h);
    sock.on('error', () => {});
    let got = Buffer.alloc(0);
    let closed = false;
    sock.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
    });
    sock.on('close', () => {
      closed = true;
    });
    sock.write(configBytes(stall.port));
    // Our side answered "passed": the session is under way, waiting for the member's answer.
    await until('our config answer', () => got.includes(Buffer.from('passed')));
    await h.upload(keys[56].bytes);
    const seq = await h.recon.catchUp();
    assert.equal(seq, await h.store.changes.latest());
    assert.equal(closed, false, 'the stalled session is still open: the catch-up went on without it');
    assert.ok(h.log.has(/catching the tree up while 1 session\(s\) still read it/));
    sock.destroy();
    await h.recon.settle();
  });

  test('a Config not sent in time closes the connection, recorded as a timeout', async () => {
    const quick = await OurServer.start({ address: '127.0.0.36', now: FLOOD_NOW, recon: { configTimeoutMs: 100 } });
    try {
      quick.setPeers([{ id: `${members[0]} 11370` }]);
      const sock = await reconConnection(members[0], quick);
      sock.on('error', () => {});
      sock.resume();
      await new Promise<void>((r) => sock.on('close', () => r()));
      await quick.recon.settle();
      assert.ok(quick.log.has(/recon with 127\.0\.0\.32 11370 \(incoming\) failed: recon peer sent no Config within 100 ms \[MS_RECON_TIMEOUT\]/), quick.log.lines.join('\n'));
    } finally {
      await quick.stop();
    }
  });

  test('elements of 2^128 or more are dropped, counted, and the rest fetched', async () => {
    const keep = await KeepAllPeer.start('127.0.0.37');
    try {
      h.setPeers([...members.map((m) => ({ id: `${m} 11370` })), keep]);
      const good = await keep.add(keys[57].bytes);
      await keep.tree.insert((1n << 128n) + 5n);
      const r = await h.recon.syncWith(keep.id);
      assert.equal(r.ok, true, String(r.error));
      assert.equal(r.dropped, 1);
      assert.equal(r.recovered?.stored, 1);
      assert.deepEqual(keep.asked, [good]);
      assert.equal((await stateOf(keep.id))?.dropped, 1);
      assert.ok(h.log.has(/dropped 1 element\(s\) it offered that are not MD5 digests/));
    } finally {
      await keep.stop();
    }
  });

  test('a filters mismatch is logged with a hint and without escapes', async () => {
    await assert.rejects(memberSession(members[2], h, new MemoryPrefixTree(), stall.port, ['yminsky.dedup']), (e) => e instanceof MsError && /^MS_RECON_CONFIG/.test(e.code));
    await h.recon.settle();
    const line = h.log.lines.find((l) => /filters do not match/.test(l)) ?? '';
    assert.match(line, /try --recon-filters yminsky\.dedup/);
    assert.doesNotMatch(line, /[\t\n]|\\t|\\n/);
    assert.equal((await stateOf(`${members[2]} 11370`))?.lastErrorCode, 'MS_RECON_CONFIG');
  });

  test('an outgoing session the peer closes at once hints at the membership file', async () => {
    const { createServer } = await import('node:net');
    const closer = createServer((s) => s.destroy());
    await new Promise<void>((r) => closer.listen(0, '127.0.0.38', r));
    const port = (closer.address() as { port: number }).port;
    try {
      h.setPeers([{ id: `127.0.0.38 ${port}` }]);
      const r = await h.recon.syncWith(`127.0.0.38 ${port}`);
      assert.equal(r.ok, false);
      assert.ok(h.log.has(/\[MS_RECON_CLOSED\]; the peer closed the connection: is our address in the peer's membership file\?/), h.log.lines.join('\n'));
    } finally {
      closer.close();
    }
  });

  test('connections from a stranger: one INFO line per address per 10 minutes, the rest counted', async () => {
    const before = h.log.lines.filter((l) => /refused a connection from 127\.0\.0\.39/.test(l)).length;
    assert.equal(before, 0);
    for (let i = 0; i < 3; i++) {
      const s = await new Promise<Socket>((resolve, reject) => {
        const c = connect({ host: h.address, port: h.reconPort, localAddress: '127.0.0.39' }, () => resolve(c));
        c.on('error', reject);
        c.resume();
      });
      await new Promise<void>((r) => s.on('close', () => r()));
    }
    const lines = h.log.lines.filter((l) => /refused a connection from 127\.0\.0\.39/.test(l));
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^I .*further ones from it in the next 10 minutes are only counted/);
  });
});
