/**
 * The agent's keyserver policy (MSVA_KEYSERVER_POLICY, or a request's `keyserverpolicy`):
 * `never` asks nothing; `unlessvalid` asks only when nothing local is valid, by exact user ID
 * (or by fingerprint for openpgp4fpr), imports what comes into the user's keyring and trusts
 * it only through the web of trust; `always` asks first. The keyserver is an HKP stand-in on
 * loopback, named as the user's tool finds it (MONKEYSPHERE_KEYSERVER).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { writeCert } from '../../src/openpgp/cert.js';
import { ensureBuilt } from '../auth/harness.js';
import { HkpStandIn } from '../security/flood.js';
import { certify, makeTlsKey, MsvaWorld, post, publishTlsKey, type RunningAgent, startOurAgent } from './world.js';

describe('keyserver policy', () => {
  let world: MsvaWorld;
  let ks: HkpStandIn;
  let agent: RunningAgent;
  let remote: { der: Buffer; fpr: string };
  let stranger: { der: Buffer; fpr: string };

  before(async () => {
    ensureBuilt();
    world = new MsvaWorld();
    world.ownertrust(world.alice, 5);
    ks = await HkpStandIn.start();
    // Two sites only the keyserver knows: one certified by Alice, one by nobody.
    const a = makeTlsKey('p256');
    const b = makeTlsKey('rsa');
    world.tls.push(a, b);
    const pa = await publishTlsKey(a, 'https://remote.example.org');
    const pb = await publishTlsKey(b, 'https://stranger.example.org');
    world.hosts.push(pa.host, pb.host);
    ks.serve([certify(pa.cert, 'https://remote.example.org', world.alice), writeCert(pb.cert)]);
    remote = { der: a.der, fpr: pa.cert.primary.fpr };
    stranger = { der: b.der, fpr: pb.cert.primary.fpr };
    agent = await startOurAgent(world.agentEnv({ MSVA_KEYSERVER_POLICY: 'never', MONKEYSPHERE_KEYSERVER: ks.url }));
  });
  after(async () => {
    await agent?.stop();
    await ks?.stop();
    world?.cleanup();
  });

  const review = async (peer: string, pkc: { type: string; data: unknown }, keyserverpolicy?: string) => {
    const r = await post(agent.url, '/reviewcert', JSON.stringify({ context: 'https', peer, pkc, ...(keyserverpolicy ? { keyserverpolicy } : {}) }));
    assert.equal(r.status, 200, r.text);
    return r.json as { valid: boolean; message: string };
  };
  const der = (d: Buffer) => ({ type: 'x509der', data: [...d] });

  test('never (the agent): nothing is asked, the unknown site is refused', async () => {
    const r = await review('remote.example.org', der(remote.der));
    assert.equal(r.valid, false);
    assert.match(r.message, /No OpenPGP certificate in your keyring carries the user ID "https:\/\/remote\.example\.org"\.$/);
    assert.deepEqual(ks.requests, []);
  });

  test("unlessvalid (the request's, over the agent's): the keyserver is asked by user ID, the certificate imported and trusted through Alice", async () => {
    const r = await review('remote.example.org', der(remote.der), 'unlessvalid');
    assert.equal(r.valid, true, r.message);
    assert.deepEqual(ks.requests, ['index https://remote.example.org', `get 0x${remote.fpr}`]);
    assert.equal(world.gpgValidity(remote.fpr, 'https://remote.example.org'), 'f', 'in the keyring, fully valid');
    // Now valid locally: unlessvalid does not ask again.
    ks.requests.length = 0;
    assert.equal((await review('remote.example.org', der(remote.der), 'unlessvalid')).valid, true);
    assert.deepEqual(ks.requests, []);
  });

  test('always: asked even when valid; what the keyserver serves is not trusted for coming from it', async () => {
    ks.requests.length = 0;
    assert.equal((await review('remote.example.org', der(remote.der), 'always')).valid, true);
    assert.deepEqual(ks.requests, ['index https://remote.example.org', `get 0x${remote.fpr}`]);
    const s = await review('stranger.example.org', der(stranger.der), 'always');
    assert.equal(s.valid, false);
    assert.match(s.message, /not fully valid on 0x[0-9A-F]{40}: no path: the user ID carries no certifications\.$/);
    assert.equal(world.gpgValidity(stranger.fpr, 'https://stranger.example.org'), '-', 'imported, not valid');
  });

  test('a fingerprint is fetched by fingerprint', async () => {
    ks.requests.length = 0;
    const r = await review('stranger.example.org', { type: 'openpgp4fpr', data: stranger.fpr }, 'always');
    assert.equal(r.valid, false);
    assert.deepEqual(ks.requests, [`get 0x${stranger.fpr}`]);
  });
});
