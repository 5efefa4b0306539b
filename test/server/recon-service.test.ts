/**
 * Our keyservers syncing with each other over recon, in this process on loopback: two, then
 * three (one on PostgreSQL) converge on the union; a certificate and a revocation uploaded to
 * one reach the others; a flooded certificate arrives trimmed everywhere, and a peer that keeps
 * the flooded copy (as SKS does) has its digest remembered as refused and not fetched again;
 * garbage, stalling and strangers are dropped with a log line while HKP goes on answering.
 * Syncs are run with the service's `syncWith` hook, not by waiting for the gossip timer.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { readCerts } from '../../src/openpgp/cert.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import { REFUSED_META } from '../../src/server/recon-refused.js';
import type { SyncReport } from '../../src/server/recon-service.js';
import { FLOOD_CREATED, FLOOD_NOW, floodCertifications, Holder, throwawayKeys, withSignatures } from '../helpers/flood.js';
import { PostgresServer } from '../helpers/postgres.js';
import { KeepAllPeer, OurServer } from '../helpers/recon-world.js';

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
