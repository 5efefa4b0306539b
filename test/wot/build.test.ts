/**
 * buildTrustNetwork, the one builder: roots by key ID or fingerprint, excluded
 * certifications, and a verification hook that may refuse (as a snapshot's does).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyIdOf } from '../../src/openpgp/fingerprint.js';
import { buildTrustNetwork, resolveRoots } from '../../src/wot/build.js';
import { NOW, Web } from './web.js';

describe('buildTrustNetwork', () => {
  it('resolves a root named by key ID, and reports roots not present', async () => {
    const w = new Web();
    w.key('alice');
    w.key('bob');
    w.certify('alice', 'bob');
    const missing = 'ABCDEF0123456789';
    const built = await buildTrustNetwork({ keys: w.keys }, { now: NOW, roots: [keyIdOf(w.fpr('alice')), missing] });
    assert.deepEqual(built.fingerprints, [w.fpr('alice'), w.fpr('bob')]);
    assert.deepEqual(built.unknownRoots, [missing]);
    assert.equal(built.network.validity(w.fpr('bob'), w.uid('bob')), 'f');
  });

  it('never counts an excluded certification', async () => {
    const w = new Web();
    w.key('alice');
    w.key('bob');
    const c = w.certify('alice', 'bob');
    const built = await buildTrustNetwork({ keys: w.keys }, { now: NOW, roots: [w.fpr('alice')] }, { exclude: (x) => x === c });
    assert.notEqual(built.network.validity(w.fpr('bob'), w.uid('bob')), 'f');
  });

  it("passes the engine's verification requests to the hook", async () => {
    const w = new Web();
    w.key('alice');
    w.key('bob');
    w.certify('alice', 'bob', { outcome: 'unchecked' });
    let asked = 0;
    await buildTrustNetwork(
      {
        keys: w.keys,
        verify: async (cs) => {
          asked += cs.length;
          for (const c of cs) c.outcome = 'good';
        },
      },
      { now: NOW, roots: [w.fpr('alice')] },
    );
    assert.ok(asked > 0);
  });
});

describe('resolveRoots', () => {
  it('a key ID names every certificate with it; a fingerprint stays a root when absent', () => {
    const v6 = 'A'.repeat(16) + 'B'.repeat(48);
    assert.deepEqual(resolveRoots(['AAAAAAAAAAAAAAAA', 'C'.repeat(40)], [v6]), { resolved: [v6, 'C'.repeat(40)], unknown: ['C'.repeat(40)] });
  });
});
