/**
 * The refused-digest memory's bounds (src/server/recon-refused.ts): a member that offers
 * digests it never sends fills only its own short-lived share, so what another peer's trimmed
 * certificates taught us stays; per-peer shares; over the overall cap the peers share it
 * fairly, so members filling theirs on purpose cannot push out an honest peer's entries;
 * expiry; and the store round trip.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  keepRefusals,
  MAX_LASTING_PER_PEER,
  MAX_TRANSIENT_PER_PEER,
  REFUSAL_TTL,
  type Refusal,
  type RefusalReason,
  RefusedDigests,
} from '../../src/server/recon-refused.js';
import type { MetaStore } from '../../src/store/types.js';

const NOW = 1_767_225_600;
const digest = (i: number, tag: string) => `${tag}${i.toString(16)}`.padStart(32, '0').slice(-32);
const refusals = (n: number, reason: RefusalReason, peer: string, tag: string, at = NOW): Refusal[] =>
  Array.from({ length: n }, (_, i) => ({ digest: digest(i, tag), reason, at: at - (i % 60), peer }));

function memoryMeta(): MetaStore {
  const m = new Map<string, string>();
  return {
    getMeta: async (k) => m.get(k),
    setMeta: async (k, v) => {
      m.set(k, v);
    },
    deleteMeta: async (k) => m.delete(k),
  };
}

describe('recon refused digests: bounds', () => {
  test('a member offering digests it never sends cannot push out what another peer taught us', async () => {
    const refused = new RefusedDigests(memoryMeta(), 5_000);
    await refused.record(refusals(300, 'trimmed', '127.0.0.1 11370', 'a'), NOW);
    // The hostile member: session after session of digests its hashquery never answers.
    for (let round = 0; round < 10; round++) await refused.record(refusals(2_000, 'unavailable', '127.0.0.9 11370', `f${round}`), NOW);
    const counts = await refused.counts();
    assert.equal(counts.trimmed, 300);
    assert.equal(counts.unavailable, MAX_TRANSIENT_PER_PEER);
    const still = await refused.refused(refusals(300, 'trimmed', '', 'a').map((r) => Buffer.from(r.digest, 'hex')), NOW);
    assert.equal(still.size, 300);
  });

  test('each peer has its own share of lasting refusals; over the overall cap, peers share it fairly', () => {
    const one = keepRefusals(refusals(MAX_LASTING_PER_PEER + 50, 'rejected', 'p1', 'b'), NOW, 1_000_000);
    assert.equal(one.length, MAX_LASTING_PER_PEER);
    // Three members filling their shares with garbage that stays "unparseable" for 30 days cannot
    // push out an honest peer's trimmed certificates (7 days).
    const attack = [
      ...refusals(5_000, 'trimmed', 'honest', 'a'),
      ...refusals(MAX_LASTING_PER_PEER, 'unparseable', 'm1', 'b'),
      ...refusals(MAX_LASTING_PER_PEER, 'unparseable', 'm2', 'c'),
      ...refusals(MAX_LASTING_PER_PEER, 'unparseable', 'm3', 'd'),
    ];
    const kept = keepRefusals(attack, NOW, 50_000);
    assert.equal(kept.length, 50_000);
    assert.equal(kept.filter((r) => r.peer === 'honest').length, 5_000);
    for (const m of ['m1', 'm2', 'm3']) assert.equal(kept.filter((r) => r.peer === m).length, 15_000);
    // Within a peer over its share, short-lived reasons go first.
    const mixed = keepRefusals([...refusals(40, 'unavailable', 'p1', 'e'), ...refusals(40, 'blocked', 'p1', 'f'), ...refusals(40, 'superseded', 'p2', 'g')], NOW, 60);
    assert.deepEqual(
      [mixed.filter((r) => r.reason === 'blocked').length, mixed.filter((r) => r.reason === 'unavailable').length, mixed.filter((r) => r.reason === 'superseded').length],
      [30, 0, 30],
    );
  });

  test('expired refusals are dropped, and a digest refused again is renewed', async () => {
    const refused = new RefusedDigests(memoryMeta());
    const old: Refusal = { digest: digest(1, 'x'), reason: 'unavailable', at: NOW - REFUSAL_TTL.unavailable - 1, peer: 'p' };
    const renewed: Refusal = { digest: digest(2, 'x'), reason: 'trimmed', at: NOW - 10, peer: 'p' };
    await refused.record([old, renewed], NOW - 20);
    await refused.record([{ ...renewed, at: NOW }], NOW);
    const list = await refused.list();
    assert.deepEqual(
      list.map((r) => [r.digest, r.at]),
      [[renewed.digest, NOW]],
    );
  });
});
