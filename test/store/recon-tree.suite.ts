/**
 * Conformance cases for the persistent recon prefix trees (`ReconTrees`, src/store/types.ts),
 * run by sqlite.test.ts and postgres.test.ts as the main suite: caught up from puts, replaces
 * and deletes of real certificates, the tree equals a memory tree (src/recon/memory-tree.ts) of
 * `digests.digests()`; so does a rebuild, node by node; catch-up is idempotent, survives a
 * pruned feed, and two stores catching up at once agree; the SQL tree and the memory tree agree
 * node by node after thousands of random inserts and removes. The reference counting of
 * digests that several certificates share (MD5 collisions) is checked in recon-tree.test.ts,
 * with a back end double: no real collision is at hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { MemoryPrefixTree } from '../../src/recon/memory-tree.js';
import { DEFAULT_RECON_SETTINGS, joinThreshold, type PrefixNode, type PrefixTree, type ReconSettings, reconSettings, samplesOf, splitThreshold } from '../../src/recon/ptree.js';
import { zpFromDigest } from '../../src/recon/zp.js';
import type { ReconTree, Store } from '../../src/store/types.js';
import { seededElements } from '../recon/seeded.js';
import { fixtureRing, NOW, syntheticCerts, withoutCertifications } from './cert-store.suite.js';

/** Small thresholds (a leaf splits above 4, joins at 2), so a few hundred certificates make a deep tree with splits and joins. */
export const SMALL_TREE: ReconSettings = reconSettings({ bitQuantum: 2, mbar: 2, threshMult: 2 });

const sorted = (xs: Iterable<bigint>) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** A memory tree of the store's digests, as a recon peer that rebuilt from them would hold. */
async function memoryOf(store: Store, settings: ReconSettings): Promise<MemoryPrefixTree> {
  const m = new MemoryPrefixTree(settings);
  for await (const d of store.digests.digests()) await m.insert(zpFromDigest(d));
  return m;
}

/** Checks every node under `node` (sizes, samples recomputed from scratch, thresholds, keys) and returns its elements. */
async function checkNode(tree: PrefixTree, node: PrefixNode): Promise<bigint[]> {
  const els = await node.elements();
  assert.equal(els.length, node.size, `size of ${node.key}`);
  assert.deepEqual(node.svalues, samplesOf(tree.points, els), `samples of ${node.key}`);
  if (node.isLeaf) {
    assert.ok(node.size <= splitThreshold(tree.settings), `leaf ${node.key} holds ${node.size}`);
    return els;
  }
  assert.ok(node.size > joinThreshold(tree.settings), `internal ${node.key} holds only ${node.size}`);
  const children = await node.children();
  assert.equal(children.length, 1 << tree.settings.bitQuantum);
  const below: bigint[] = [];
  for (const c of children) below.push(...(await checkNode(tree, c)));
  assert.deepEqual(sorted(below), sorted(els));
  return els;
}

/** Whether two trees have the same nodes: keys, kinds, sizes, samples and leaves' elements. */
async function assertSameNodes(a: PrefixNode, b: PrefixNode): Promise<number> {
  assert.ok(a.key.equals(b.key), `${a.key} vs ${b.key}`);
  assert.equal(a.isLeaf, b.isLeaf, `kind of ${a.key}`);
  assert.equal(a.size, b.size, `size of ${a.key}`);
  assert.deepEqual(a.svalues, b.svalues, `samples of ${a.key}`);
  if (a.isLeaf) {
    assert.deepEqual(sorted(await a.elements()), sorted(await b.elements()), `elements of ${a.key}`);
    return 1;
  }
  const [ca, cb] = [await a.children(), await b.children()];
  let n = 1;
  for (let i = 0; i < ca.length; i++) n += await assertSameNodes(ca[i], cb[i]);
  return n;
}

/** The tree holds exactly the store's digests: a sound tree with the root a memory tree of them has. */
async function assertMatchesDigests(tree: ReconTree, store: Store): Promise<void> {
  const m = await memoryOf(store, tree.settings);
  const [root, want] = [await tree.root(), await m.root()];
  assert.equal(root.size, want.size);
  assert.deepEqual(root.svalues, want.svalues);
  assert.deepEqual(sorted(await checkNode(tree, root)), sorted(await want.elements()));
}


/**
 * Runs the suite. `open` gives a fresh, empty store (the suite closes it); `again` opens a
 * second connection to the same database as `store` (the suite closes it too).
 */
export function reconTreeSuite(name: string, open: () => Promise<Store>, again: (store: Store) => Promise<Store>): void {
  const withStore = (fn: (store: Store) => Promise<void>) => async () => {
    const store = await open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };

  describe(`Store conformance: ${name}: recon prefix trees`, () => {
    test(
      'a new tree reads empty at seq 0; its first catchUp builds it to the latest change',
      withStore(async (store) => {
        const tree = await store.reconTrees.open(DEFAULT_RECON_SETTINGS);
        assert.equal(await tree.seq(), 0);
        assert.equal((await tree.root()).size, 0);
        assert.equal(await tree.catchUp(), 0);
        await store.certs.putMany(fixtureRing(), NOW);
        const latest = await store.changes.latest();
        assert.equal(await tree.catchUp(), latest);
        assert.equal(await tree.seq(), latest);
        await assertMatchesDigests(tree, store);
        // Another handle on the same settings is the same tree.
        const same = await store.reconTrees.open(reconSettings());
        assert.deepEqual((await same.root()).svalues, (await tree.root()).svalues);
      }),
    );

    test(
      'after puts, replaces and deletes, catchUp gives the tree of the stored digests; again, nothing changes',
      withStore(async (store) => {
        for (const settings of [DEFAULT_RECON_SETTINGS, SMALL_TREE]) {
          const tree = await store.reconTrees.open(settings);
          await tree.catchUp();
        }
        const ring = fixtureRing();
        const extra = syntheticCerts(150);
        await store.certs.putMany([...ring, ...extra.slice(0, 100)], NOW);
        const trees = [await store.reconTrees.open(DEFAULT_RECON_SETTINGS), await store.reconTrees.open(SMALL_TREE)];
        for (const t of trees) await t.catchUp();
        // Replaces that take packets away (new digests), deletes, and more puts, in one backlog.
        let replaced = 0;
        for (const cert of ring) {
          const stored = (await store.certs.get(cert.primary.fpr))!;
          const r = await store.certs.replace(cert.primary.fpr, stored.bytes, withoutCertifications(stored.cert), NOW + 1);
          if (r?.status === 'updated') replaced++;
        }
        assert.ok(replaced > 0, 'some fixture certificates carry certifications');
        for (const c of extra.slice(0, 60)) assert.ok(await store.certs.delete(c.primary.fpr, NOW + 2));
        await store.certs.putMany(extra.slice(100), NOW + 3);
        // A digest that comes and goes within the backlog, and one that goes and comes back.
        await store.certs.delete(extra[120].primary.fpr, NOW + 4);
        await store.certs.put(extra[10], NOW + 5);
        const latest = await store.changes.latest();
        for (const t of trees) {
          assert.equal(await t.catchUp(), latest);
          await assertMatchesDigests(t, store);
          const root = await t.root();
          assert.equal(await t.catchUp(), latest, 'idempotent');
          assert.deepEqual((await t.root()).svalues, root.svalues);
        }
        // The two settings are two trees, the same elements.
        assert.deepEqual(sorted(await (await trees[0].root()).elements()), sorted(await (await trees[1].root()).elements()));
      }),
    );

    test(
      'rebuild gives, node by node, the tree inserting every stored digest gives',
      withStore(async (store) => {
        const certs = syntheticCerts(180);
        await store.certs.putMany([...fixtureRing(), ...certs], NOW);
        for (const c of certs.slice(0, 40)) await store.certs.delete(c.primary.fpr, NOW + 1);
        for (const settings of [DEFAULT_RECON_SETTINGS, SMALL_TREE]) {
          const tree = await store.reconTrees.open(settings);
          const n = await tree.rebuild();
          assert.equal(n, (await store.certs.count()));
          assert.equal(await tree.seq(), await store.changes.latest());
          const nodes = await assertSameNodes(await tree.root(), await (await memoryOf(store, settings)).root());
          if (settings === SMALL_TREE) assert.ok(nodes > 50, `${nodes} nodes`);
          await checkNode(tree, await tree.root());
          // Rebuilding again changes nothing.
          assert.equal(await tree.rebuild(), n);
          await assertSameNodes(await tree.root(), await (await memoryOf(store, settings)).root());
        }
      }),
    );

    test(
      'a feed pruned past the tree’s seq: catchUp rebuilds and reaches the latest change',
      withStore(async (store) => {
        const certs = syntheticCerts(80);
        await store.certs.putMany(certs.slice(0, 40), NOW);
        const tree = await store.reconTrees.open(SMALL_TREE);
        const before = await tree.catchUp();
        await store.certs.putMany(certs.slice(40), NOW + 1);
        for (const c of certs.slice(0, 20)) await store.certs.delete(c.primary.fpr, NOW + 2);
        const latest = await store.changes.latest();
        assert.ok((await store.changes.prune(latest - 3)) > 0);
        assert.equal(await tree.seq(), before);
        assert.equal(await tree.catchUp(), latest);
        await assertMatchesDigests(tree, store);
        // Pruned up to the tree's seq exactly: nothing lost, nothing to rebuild.
        await store.certs.putMany(syntheticCerts(5), NOW + 3);
        await store.changes.prune(latest);
        assert.equal(await tree.catchUp(), latest + 5);
        await assertMatchesDigests(tree, store);
      }),
    );

    test(
      'the stored tree and the memory tree agree node by node over thousands of random inserts and removes',
      withStore(async (store) => {
        for (const [settings, ops] of [
          [SMALL_TREE, 2000],
          [DEFAULT_RECON_SETTINGS, 1500],
        ] as const) {
          const tree = await store.reconTrees.open(settings);
          const mem = new MemoryPrefixTree(settings);
          const next = seededElements(ops, 128);
          const held: bigint[] = [];
          let state = 7;
          for (let i = 0; i < ops; i++) {
            state = (state * 1103515245 + 12345) >>> 0;
            // Grow, then shrink: splits first, then joins.
            const removing = held.length > 0 && state % 100 < (i < ops * 0.6 ? 30 : 75);
            if (removing) {
              const [z] = held.splice(state % held.length, 1);
              await tree.remove(z);
              await mem.remove(z);
            } else {
              const z = next();
              held.push(z);
              await tree.insert(z);
              await mem.insert(z);
            }
            if (i % 500 === 499) await assertSameNodes(await tree.root(), await mem.root());
          }
          await assertSameNodes(await tree.root(), await mem.root());
          await checkNode(tree, await tree.root());
          assert.equal(await tree.has(held[0]), true);
          await assert.rejects(tree.insert(held[0]), (e: unknown) => e instanceof InputError && e.code === 'MS_RECON_ELEMENT');
          await assert.rejects(tree.remove(next()), (e: unknown) => e instanceof InputError && e.code === 'MS_RECON_ELEMENT');
          assert.equal(await tree.seq(), 0, 'insert and remove do not move the seq');
        }
      }),
    );

    test(
      'two stores on one database catching up at once end with the same, correct tree',
      withStore(async (store) => {
        const other = await again(store);
        try {
          const certs = syntheticCerts(160);
          const [a, b] = [await store.reconTrees.open(SMALL_TREE), await other.reconTrees.open(SMALL_TREE)];
          await store.certs.putMany(certs.slice(0, 30), NOW);
          await Promise.all([a.catchUp(), b.catchUp()]);
          // Writers on both connections while both catch up, several rounds.
          for (let round = 0; round < 4; round++) {
            const part = certs.slice(30 + round * 30, 60 + round * 30);
            await Promise.all([
              store.certs.putMany(part.slice(0, 15), NOW + round),
              other.certs.putMany(part.slice(15), NOW + round),
              a.catchUp(),
              b.catchUp(),
              store.certs.delete(certs[round * 7].primary.fpr, NOW + round),
              a.catchUp(),
            ]);
          }
          const latest = await store.changes.latest();
          const [sa, sb] = await Promise.all([a.catchUp(), b.catchUp()]);
          assert.equal(sa, latest);
          assert.equal(sb, latest);
          await assertMatchesDigests(a, store);
          await assertSameNodes(await a.root(), await b.root());
        } finally {
          await other.close();
        }
      }),
    );
  });
}
