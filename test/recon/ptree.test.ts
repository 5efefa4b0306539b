/**
 * The prefix tree (src/recon/ptree.ts, memory-tree.ts): its invariants after seeded random
 * inserts and removes, splits and joins at SKS's thresholds, samples equal to a from-scratch
 * recomputation, and recon over two trees: within mbar differences the root's samples give
 * the difference; beyond, a small test-only recursive reconciler (the walk SKS's server does,
 * without the wire) recovers exactly the symmetric difference.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Bitstring, childKey, elementHasPrefix } from '../../src/recon/bitstring.js';
import { reconcileSamples } from '../../src/recon/interpolate.js';
import { MemoryPrefixTree } from '../../src/recon/memory-tree.js';
import {
  DEFAULT_RECON_SETTINGS,
  joinThreshold,
  type PrefixNode,
  type PrefixTree,
  reconSettings,
  samplesOf,
  splitThreshold,
} from '../../src/recon/ptree.js';
import { P, zpPoints, zpSub } from '../../src/recon/zp.js';
import { seededElements } from './seeded.js';

const elements = (seed: number) => seededElements(seed, 128);

const sorted = (xs: Iterable<bigint>) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Checks every node under `node` and returns the elements under it. */
async function checkNode(tree: PrefixTree, node: PrefixNode, depth: number): Promise<bigint[]> {
  const s = tree.settings;
  const els = await node.elements();
  assert.equal(els.length, node.size, `size of ${node.key}`);
  assert.equal(new Set(els).size, els.length, `duplicates under ${node.key}`);
  for (const z of els) assert.ok(elementHasPrefix(z, node.key), `${z} under ${node.key}`);
  assert.deepEqual(node.svalues, samplesOf(tree.points, els), `samples of ${node.key}`);
  assert.equal(node.key.length, depth * s.bitQuantum);
  const children = await node.children();
  if (node.isLeaf) {
    assert.equal(children.length, 0);
    assert.ok(node.size <= splitThreshold(s), `leaf ${node.key} holds ${node.size}`);
    return els;
  }
  assert.ok(node.size > joinThreshold(s), `internal ${node.key} holds only ${node.size}`);
  assert.equal(children.length, 1 << s.bitQuantum);
  let sum = 0;
  const below: bigint[] = [];
  for (const [i, c] of children.entries()) {
    assert.ok(c.key.equals(childKey(node.key, i, s.bitQuantum)));
    sum += c.size;
    below.push(...(await checkNode(tree, c, depth + 1)));
  }
  assert.equal(sum, node.size, `children of ${node.key}`);
  assert.deepEqual(sorted(below), sorted(els));
  return els;
}

async function checkTree(tree: MemoryPrefixTree, expected: Set<bigint>): Promise<void> {
  const root = await tree.root();
  assert.deepEqual(sorted(await checkNode(tree, root, 0)), sorted(expected));
  // No orphans: every stored node is reachable, i.e. its parent is internal.
  for (const n of tree.nodeStore.nodes()) {
    const found = await tree.node(n.key);
    assert.ok(found.key.equals(n.key), `stored node ${n.key} is not in the tree`);
  }
}

describe('prefix tree', () => {
  test('settings: SKS defaults and derived thresholds', () => {
    assert.deepEqual(DEFAULT_RECON_SETTINGS, { bitQuantum: 2, mbar: 5, threshMult: 10, numSamples: 6 });
    assert.deepEqual(reconSettings(), DEFAULT_RECON_SETTINGS);
    assert.equal(splitThreshold(DEFAULT_RECON_SETTINGS), 50);
    assert.equal(joinThreshold(DEFAULT_RECON_SETTINGS), 25);
    assert.equal(reconSettings({ mbar: 3 }).numSamples, 4);
    assert.throws(() => reconSettings({ bitQuantum: 0 }), RangeError);
  });

  test('an empty tree: a root leaf whose samples are all 1 (SKS ZZp.svalues)', async () => {
    const tree = new MemoryPrefixTree();
    const root = await tree.root();
    assert.ok(root.isLeaf);
    assert.equal(root.size, 0);
    assert.deepEqual(root.svalues, [1n, 1n, 1n, 1n, 1n, 1n]);
    assert.deepEqual(tree.points, zpPoints(6));
    assert.deepEqual(await root.elements(), []);
    assert.deepEqual(await root.children(), []);
  });

  test('one element x: each sample is point − x (SKS add_el_array)', async () => {
    const tree = new MemoryPrefixTree();
    const x = 0x0f0e0d0c0b0a09080706050403020100n;
    await tree.insert(x);
    const root = await tree.root();
    assert.deepEqual(
      root.svalues,
      tree.points.map((pt) => zpSub(pt, x)),
    );
    assert.equal(root.svalues[0], P - x); // the first point is 0
    assert.ok(await tree.has(x));
    assert.ok(!(await tree.has(x + 1n)));
  });

  test('split above 50 elements, join at 25 or fewer', async () => {
    const next = elements(21);
    const tree = new MemoryPrefixTree();
    const els: bigint[] = [];
    for (let i = 0; i < 50; i++) {
      els.push(next());
      await tree.insert(els[i]);
    }
    assert.ok((await tree.root()).isLeaf);
    els.push(next());
    await tree.insert(els[50]);
    assert.ok(!(await tree.root()).isLeaf);
    assert.equal((await tree.root()).size, 51);
    await checkTree(tree, new Set(els));
    while (els.length > 26) await tree.remove(els.pop()!);
    assert.ok(!(await tree.root()).isLeaf);
    await tree.remove(els.pop()!);
    const root = await tree.root();
    assert.ok(root.isLeaf);
    assert.equal(root.size, 25);
    assert.equal([...tree.nodeStore.nodes()].length, 1);
    await checkTree(tree, new Set(els));
  });

  test('elements that share a long prefix split down several levels at once', async () => {
    const tree = new MemoryPrefixTree();
    // Low 16 bits equal: the first 8 levels cannot tell them apart.
    const els = Array.from({ length: 60 }, (_, i) => (BigInt(i + 1) << 64n) | 0xabcdn);
    for (const z of els) await tree.insert(z);
    await checkTree(tree, new Set(els));
    const leaf = await tree.node(Bitstring.ofElement(els[0]));
    assert.ok(leaf.isLeaf);
    assert.ok(leaf.key.length > 16);
  });

  test('invariants after random inserts and removes', async () => {
    for (const settings of [DEFAULT_RECON_SETTINGS, reconSettings({ bitQuantum: 1, mbar: 3, threshMult: 2 }), reconSettings({ bitQuantum: 3, mbar: 2, threshMult: 4 })]) {
      const next = elements(31 + settings.bitQuantum);
      const tree = new MemoryPrefixTree(settings);
      const present = new Set<bigint>();
      let rnd = 1;
      for (let step = 0; step < 3000; step++) {
        rnd = (rnd * 1103515245 + 12345) >>> 0;
        // Grow, then shrink, then grow again, crossing the thresholds many times.
        const growing = step < 1200 || step > 2200;
        if (present.size > 0 && rnd % 100 < (growing ? 30 : 80)) {
          const arr = [...present];
          const z = arr[rnd % arr.length];
          await tree.remove(z);
          present.delete(z);
        } else {
          const z = next();
          await tree.insert(z);
          present.add(z);
        }
        if (step % 500 === 499) await checkTree(tree, present);
      }
      await checkTree(tree, present);
      for (const z of [...present].slice(0, 20)) assert.ok(await tree.has(z));
    }
  });

  test('node(key) is the deepest node along the key', async () => {
    const next = elements(41);
    const tree = new MemoryPrefixTree();
    const els = Array.from({ length: 400 }, next);
    for (const z of els) await tree.insert(z);
    assert.ok((await tree.node(Bitstring.EMPTY)).key.equals(Bitstring.EMPTY));
    for (const z of els.slice(0, 50)) {
      const bits = Bitstring.ofElement(z);
      const leaf = await tree.node(bits);
      assert.ok(leaf.isLeaf);
      assert.ok(leaf.key.isPrefixOf(bits));
      assert.ok((await leaf.elements()).includes(z));
      // A key that stops part-way through a quantum stops at the whole quanta before it.
      const partial = await tree.node(bits.prefix(3));
      assert.ok(partial.key.equals(bits.prefix(2)) || (partial.isLeaf && partial.key.length === 0));
    }
  });

  test('refuses duplicates, absent elements, sample points and non-elements', async () => {
    const tree = new MemoryPrefixTree();
    await tree.insert(12345678901234567890n);
    await assert.rejects(tree.insert(12345678901234567890n), { code: 'MS_RECON_ELEMENT' });
    await assert.rejects(tree.remove(5n), { code: 'MS_RECON_ELEMENT' });
    await assert.rejects(tree.remove(P), { code: 'MS_RECON_ELEMENT' });
    for (const pt of tree.points) await assert.rejects(tree.insert(pt), { code: 'MS_RECON_ELEMENT' });
    await assert.rejects(tree.insert(P), { code: 'MS_RECON_ELEMENT' });
    await assert.rejects(tree.insert(-1n), { code: 'MS_RECON_ELEMENT' });
    assert.equal((await tree.root()).size, 1);
  });
});

// ---------------------------------------------------------------------------------------

const splitter = elements(99);

interface Outcome {
  remoteOnly: bigint[];
  localOnly: bigint[];
  /** Nodes whose samples were interpolated, and how many of those answered low-mbar. */
  polys: number;
  failures: number;
}

/**
 * The recursion SKS's recon server runs over its tree against a peer's, with both trees in
 * hand: interpolate each node's samples against the same node of the other tree; on low-mbar,
 * recurse into the children, or compare the elements outright where either side is a leaf.
 */
async function reconcileTrees(remote: PrefixTree, local: PrefixTree): Promise<Outcome> {
  const out: Outcome = { remoteOnly: [], localOnly: [], polys: 0, failures: 0 };
  const walk = async (r: PrefixNode): Promise<void> => {
    const l = await local.node(r.key);
    if (l.key.equals(r.key)) {
      out.polys++;
      const got = reconcileSamples(r, l, remote.points, splitter);
      if (got.ok) {
        out.remoteOnly.push(...got.remoteOnly);
        out.localOnly.push(...got.localOnly);
        return;
      }
      out.failures++;
      if (!r.isLeaf && !l.isLeaf) {
        for (const c of await r.children()) await walk(c);
        return;
      }
    }
    const mine = new Set((await l.elements()).filter((z) => elementHasPrefix(z, r.key)));
    const theirs = new Set(await r.elements());
    for (const z of theirs) if (!mine.has(z)) out.remoteOnly.push(z);
    for (const z of mine) if (!theirs.has(z)) out.localOnly.push(z);
  };
  await walk(await remote.root());
  return out;
}

async function twoTrees(seed: number, common: number, remoteOnly: number, localOnly: number) {
  const next = elements(seed);
  const shared = Array.from({ length: common }, next);
  const a = Array.from({ length: remoteOnly }, next);
  const b = Array.from({ length: localOnly }, next);
  const remote = new MemoryPrefixTree();
  const local = new MemoryPrefixTree();
  for (const z of [...shared, ...a]) await remote.insert(z);
  for (const z of [...b, ...shared]) await local.insert(z);
  return { remote, local, a, b };
}

describe('recon over two trees', () => {
  test('0..mbar differences: the roots alone give them', async () => {
    let seed = 500;
    for (const common of [0, 30, 700]) {
      for (let m = 0; m <= 5; m++) {
        for (let m1 = 0; m1 <= m; m1++) {
          const { remote, local, a, b } = await twoTrees(seed++, common, m1, m - m1);
          const got = reconcileSamples(await remote.root(), await local.root(), remote.points, splitter);
          assert.ok(got.ok, `${common} common, ${m1} + ${m - m1} different`);
          assert.deepEqual(sorted(got.remoteOnly), sorted(a));
          assert.deepEqual(sorted(got.localOnly), sorted(b));
        }
      }
    }
  });

  test('more than mbar differences: the root fails, recursion recovers exactly the difference', async () => {
    const cases: [number, number, number][] = [
      [100, 4, 3],
      [500, 20, 0],
      [2000, 150, 150],
      [3000, 0, 300],
      [4000, 37, 5],
      [0, 60, 60],
    ];
    for (const [i, [common, m1, m2]] of cases.entries()) {
      const { remote, local, a, b } = await twoTrees(900 + i, common, m1, m2);
      const got = await reconcileTrees(remote, local);
      assert.ok(got.failures >= 1, `${common}: root must fail`);
      assert.deepEqual(sorted(got.remoteOnly), sorted(a), `${common} common, ${m1} + ${m2}`);
      assert.deepEqual(sorted(got.localOnly), sorted(b), `${common} common, ${m1} + ${m2}`);
    }
  });

  // How long it takes is the benchmark's business (no timing thresholds in tests).
  test('100,000 elements and 1,000 differences reconcile exactly', async () => {
    const { remote, local, a, b } = await twoTrees(4242, 99_000, 500, 500);
    const got = await reconcileTrees(remote, local);
    assert.deepEqual(sorted(got.remoteOnly), sorted(a));
    assert.deepEqual(sorted(got.localOnly), sorted(b));
  });
});
