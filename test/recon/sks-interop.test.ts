/**
 * Our recon sessions against a real SKS 1.1.6 (`sks db` + `sks recon` on 127.0.0.1, gossiping
 * every 3 s with us on 127.0.0.2), in both directions: SKS connecting to our listener (we
 * walk our tree), and us connecting to SKS from our recon address (SKS walks its tree). Each
 * time we must recover exactly SKS's hashes that we lack, and SKS must log exactly ours that
 * it lacks. 19 differences, more than mbar, so the root fails and its children are used.
 * A tiny /pks/hashquery stand-in answers SKS's fetches with no keys, so our set stays ours.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MsError } from '../../src/errors.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import type { LocalConfig } from '../../src/recon/config.js';
import { MemoryPrefixTree } from '../../src/recon/memory-tree.js';
import { runSession, type SessionResult } from '../../src/recon/session.js';
import { zpFromDigest, zpToDigest } from '../../src/recon/zp.js';
import { throwawayKeys } from '../helpers/flood.js';
import { freePort } from '../helpers/sks.js';
import { SksReconNode } from '../helpers/sks-recon.js';

const OURS = '127.0.0.2';
const hex = (z: bigint) => zpToDigest(z).toString('hex').toUpperCase();

describe('recon against SKS 1.1.6', () => {
  const keys = throwawayKeys('recon-interop', 0, 179);
  const digests = keys.map((k) => sksDigest(k.cert).toString('hex').toUpperCase());
  // SKS: keys 0–171; we: 0–159 and 172–178.
  const ourHashes = new Set([...digests.slice(0, 160), ...digests.slice(172)]);
  let sks: SksReconNode;
  let tree: MemoryPrefixTree;
  let skjsHashes: Set<string>;
  let recon: Server;
  let http: HttpServer;
  let config: LocalConfig;
  const incoming: ((r: SessionResult) => void)[] = [];

  before(async () => {
    tree = new MemoryPrefixTree();
    for (const h of ourHashes) await tree.insert(zpFromDigest(Buffer.from(h, 'hex')));
    const reconPort = await freePort();
    const httpPort = await freePort();
    config = { version: '1.1.6', httpPort, bitQuantum: 2, mbar: 5, filters: ['yminsky.dedup'] };
    http = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'pgp/keys' });
      res.end(Buffer.from([0, 0, 0, 0, 13, 10]));
    });
    await new Promise<void>((r) => http.listen(httpPort, OURS, r));
    // Every session SKS opens is answered; the tests take the results they wait for.
    recon = createServer((sock: Socket) => {
      runSession(sock, 'responder', tree, config, { readTimeoutMs: 10_000 }).then(
        (r) => incoming.shift()?.(r),
        () => {},
      );
    });
    await new Promise<void>((r) => recon.listen(reconPort, OURS, r));
    sks = await SksReconNode.start({ address: '127.0.0.1', membership: [`${OURS} ${reconPort}`], gossipMinutes: 0.05 });
    await sks.add(keys.slice(0, 172).map((k) => k.bytes));
    await sks.waitForTreeSize(172);
    skjsHashes = sks.dbHashes();
  });

  after(async () => {
    await sks?.stop();
    recon?.close();
    http?.close();
  });

  const recoveries = () => [...sks.reconLog().matchAll(/(\d+) hashes recovered from <ADDR_INET [^>]*>\n((?:.*\t[0-9A-Fa-f]{32}\n)*)/g)];

  /**
   * The hashes SKS logged as recovered from us in the session that ended after its `since`-th
   * (≤ 10 are listed). SKS logs them as its session ends, just before or after ours returns;
   * its next gossip is 3 s away, so the last one logged shortly after ours is that session.
   */
  async function sksRecovered(since: number): Promise<Set<string>> {
    const until = Date.now() + 20_000;
    for (;;) {
      const log = sks.reconLog();
      if (recoveries().length > since) {
        await new Promise((r) => setTimeout(r, 300));
        const blocks = recoveries();
        const [, count, lines] = blocks[blocks.length - 1];
        const hashes = new Set([...lines.matchAll(/\t([0-9A-Fa-f]{32})/g)].map((m) => m[1].toUpperCase()));
        assert.equal(hashes.size, Number(count));
        return hashes;
      }
      if (Date.now() > until) throw new Error(`SKS logged no recovery after the ${since}-th:\n${log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  test('SKS holds the hashes we computed for its keys', () => {
    assert.deepEqual([...skjsHashes].sort(), digests.slice(0, 172).sort());
  });

  const theyLack = () => [...ourHashes].filter((h) => !skjsHashes.has(h)).sort();
  const weLack = () => [...skjsHashes].filter((h) => !ourHashes.has(h)).sort();

  test('SKS connects to us: we walk our tree, both recover exactly what they lack', async () => {
    const since = recoveries().length;
    const result = await new Promise<SessionResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`SKS did not reconcile with us:\n${sks.reconLog().slice(-3000)}`)), 30_000);
      incoming.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    assert.deepEqual(result.localMissing.map(hex).sort(), weLack());
    assert.equal(result.truncated, false);
    assert.equal(result.peer.httpPort, sks.hkpPort);
    assert.deepEqual([...(await sksRecovered(since))].sort(), theyLack());
    for (const z of result.peerMissing) assert.ok(theyLack().includes(hex(z)));
  });

  /**
   * A session we open with SKS. SKS ignores recon while it fetches keys it learnt of (its
   * recover list, fetched 10 s after a session it accepted: it then closes at once), so a
   * closed connection is tried again for 40 s.
   */
  async function toSks(cfg: LocalConfig): Promise<SessionResult> {
    const until = Date.now() + 40_000;
    for (;;) {
      const sock = connect({ host: '127.0.0.1', port: sks.reconPort, localAddress: OURS });
      try {
        return await runSession(sock, 'initiator', tree, cfg, { readTimeoutMs: 10_000 });
      } catch (err) {
        if (!(err instanceof MsError && err.code === 'MS_RECON_CLOSED') || Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  test('we connect to SKS from our recon address: SKS walks its tree, both recover exactly what they lack', async () => {
    const since = recoveries().length;
    const result = await toSks(config);
    assert.deepEqual(result.localMissing.map(hex).sort(), weLack());
    assert.equal(result.truncated, false);
    assert.equal(result.peer.version, '1.1.6');
    assert.deepEqual([...(await sksRecovered(since))].sort(), theyLack());
  });

  test('SKS refuses other filters, and we refuse its', async () => {
    await assert.rejects(toSks({ ...config, filters: ['yminsky.dedup', 'yminsky.merge'] }), (err) => {
      assert.ok(err instanceof MsError);
      assert.ok(['MS_RECON_CONFIG', 'MS_RECON_CONFIG_REJECTED'].includes(err.code), `${err.message}\n${sks.reconLog().slice(-3000)}`);
      assert.match(String(err.data.reason), /filters do not match/);
      return true;
    });
  });
});
