/**
 * Our keyserver and a real SKS 1.1.6 (`sks db` + `sks recon`, test/helpers/sks-recon.ts) on
 * loopback, starting with disjoint sets of certificates, end up both holding the union, checked
 * through HKP on both sides: once with SKS initiating (it gossips every 3 s; we answer and fetch
 * from its HKP, it fetches from ours), once with us initiating (SKS never gossips). A fresh
 * SKS database announces the filter yminsky.dedup alone, so we announce that. SKS ignores recon
 * for a while after a session (it fetches keys), so our syncs are retried when it closes on us.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MsError } from '../../src/errors.js';
import { FLOOD_NOW, throwawayKeys } from '../helpers/flood.js';
import { OurServer } from '../helpers/recon-world.js';
import { SksReconNode } from '../helpers/sks-recon.js';

const keys = throwawayKeys('recon-sks', 0, 40);

async function sksServes(sks: SksReconNode, fpr: string): Promise<boolean> {
  const res = await fetch(`${sks.hkpBase}/lookup?op=get&options=mr&search=0x${fpr}`);
  await res.arrayBuffer();
  return res.status === 200;
}

/** Polls until `cond` holds (SKS works on its own timers), at most `ms`. */
async function eventually(what: string, cond: () => Promise<boolean>, ms = 90_000, detail?: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) assert.fail(`${what} within ${ms / 1000} s${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function unionOnBoth(ours: OurServer, sks: SksReconNode, all: typeof keys): Promise<void> {
  const detail = () => `ours:\n${ours.log.lines.slice(-20).join('\n')}\nsks recon:\n${sks.reconLog().slice(-3000)}`;
  for (const k of all) {
    await eventually(`our server serves ${k.fpr}`, async () => (await ours.get(k.fpr)) !== undefined, 90_000, detail);
    await eventually(`SKS serves ${k.fpr}`, () => sksServes(sks, k.fpr), 90_000, detail);
  }
}

describe('with SKS 1.1.6 initiating', () => {
  let ours: OurServer;
  let sks: SksReconNode;
  before(async () => {
    ours = await OurServer.start({ address: '127.0.0.2', now: FLOOD_NOW, recon: { filters: ['yminsky.dedup'] } });
    sks = await SksReconNode.start({ address: '127.0.0.1', membership: [ours.id], gossipMinutes: 0.05 });
    ours.setPeers([{ id: `127.0.0.1 ${sks.reconPort}` }]);
    await sks.add(keys.slice(0, 12).map((k) => k.bytes));
    await sks.waitForTreeSize(12);
    await ours.upload(Buffer.concat(keys.slice(12, 20).map((k) => k.bytes)));
  });
  after(async () => {
    await sks?.stop();
    await ours?.stop();
  });

  test('both hold the union, checked through HKP on both sides', async () => {
    await unionOnBoth(ours, sks, keys.slice(0, 20));
    assert.ok(ours.log.has(/recon with 127\.0\.0\.1 \d+: 12 certificates stored/), ours.log.lines.join('\n'));
    const metrics = await (await fetch(`${ours.base}/metrics`)).text();
    assert.match(metrics, new RegExp(`keyserver_recon_fetched_total\\{instance="127.0.0.2:${ours.reconPort}",peer="127.0.0.1 ${sks.reconPort}"\\} 12`));
  });
});

describe('with us initiating', () => {
  let ours: OurServer;
  let sks: SksReconNode;
  before(async () => {
    ours = await OurServer.start({ address: '127.0.0.4', now: FLOOD_NOW, recon: { filters: ['yminsky.dedup'] } });
    sks = await SksReconNode.start({ address: '127.0.0.3', membership: [ours.id] });
    ours.setPeers([{ id: `127.0.0.3 ${sks.reconPort}` }]);
    await sks.add(keys.slice(20, 30).map((k) => k.bytes));
    await sks.waitForTreeSize(10);
    await ours.upload(Buffer.concat(keys.slice(30, 40).map((k) => k.bytes)));
  });
  after(async () => {
    await sks?.stop();
    await ours?.stop();
  });

  test('both hold the union, checked through HKP on both sides', async () => {
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await ours.recon.syncWith(`127.0.0.3 ${sks.reconPort}`);
      if (r.ok) {
        assert.equal(r.localMissing, 10);
        assert.equal(r.recovered?.stored, 10);
        break;
      }
      // SKS closes at once while it fetches after a session: try again.
      if (!(r.error instanceof MsError && r.error.code === 'MS_RECON_CLOSED') || Date.now() > until) assert.fail(`${String(r.error)}\n${sks.reconLog().slice(-3000)}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
    await unionOnBoth(ours, sks, keys.slice(20, 40));
  });
});
