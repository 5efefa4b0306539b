/**
 * The shared logic of the persistent prefix trees (src/store/recon-tree.ts) over a back end
 * double, for what a real store cannot easily show: digests that several certificates share
 * (an MD5 collision, which the store keeps) counted right whatever order the feed gives, a tree
 * from older code rebuilt, a commit that lost a race tried again, digests that cannot be
 * elements, and a long backlog rebuilt rather than replayed. The SQL back ends run the
 * conformance cases in recon-tree.suite.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { MemoryPrefixTree } from '../../src/recon/memory-tree.js';
import { zpFromDigest } from '../../src/recon/zp.js';
import type { Fingerprint } from '../../src/openpgp/fingerprint.js';
import { type NodeRow, REBUILD_BACKLOG, type ReconTreeBackend, StoredReconTrees, type TreeState, type TreeWrite } from '../../src/store/recon-tree.js';
import type { Change } from '../../src/store/types.js';
import { SMALL_TREE } from './recon-tree.suite.js';

/** A store's feed, digest index and tree rows in memory, kept as the SQL back ends keep them. */
class MemoryBackend implements ReconTreeBackend {
  readonly feed: Change[] = [];
  readonly certs = new Map<string, Buffer>();
  readonly trees = new Map<string, { state: TreeState; nodes: Map<string, NodeRow> }>();
  readonly commits: TreeWrite[] = [];
  refused = 0;
  /** Runs before each commit is applied (to let a rival commit first). */
  beforeCommit?: () => Promise<void>;

  put(fpr: string, digest: Buffer): void {
    const old = this.certs.get(fpr);
    this.certs.set(fpr, digest);
    this.feed.push({ seq: this.feed.length + 1, fpr: fpr as Fingerprint, added: digest, ...(old ? { removed: old } : {}), at: 0 });
  }

  delete(fpr: string): void {
    const old = this.certs.get(fpr);
    assert.ok(old);
    this.certs.delete(fpr);
    this.feed.push({ seq: this.feed.length + 1, fpr: fpr as Fingerprint, removed: old, at: 0 });
  }

  async state(tree: string): Promise<TreeState> {
    return { ...(this.trees.get(tree)?.state ?? { seq: 0, gen: 0, format: 0 }) };
  }

  async nodes(tree: string, keys: readonly Buffer[]): Promise<NodeRow[]> {
    const t = this.trees.get(tree);
    return keys.flatMap((k) => t?.nodes.get(k.toString('hex')) ?? []);
  }

  async latest(): Promise<number> {
    return this.feed.length;
  }

  async since(after: number, limit: number): Promise<Change[]> {
    return this.feed.filter((c) => c.seq > after).slice(0, limit);
  }

  async present(digests: readonly Buffer[]): Promise<Set<string>> {
    const have = new Set([...this.certs.values()].map((d) => d.toString('hex')));
    return new Set(digests.map((d) => d.toString('hex')).filter((h) => have.has(h)));
  }

  async *digests(): AsyncIterable<Buffer> {
    const hex = [...new Set([...this.certs.values()].map((d) => d.toString('hex')))].sort();
    for (const h of hex) yield Buffer.from(h, 'hex');
  }

  async commit(tree: string, w: TreeWrite): Promise<boolean> {
    const hook = this.beforeCommit;
    this.beforeCommit = undefined;
    if (hook) await hook();
    const t = this.trees.get(tree) ?? { state: { seq: 0, gen: 0, format: 0 }, nodes: new Map<string, NodeRow>() };
    if (w.expectGen !== undefined && w.expectGen !== t.state.gen) {
      this.refused++;
      return false;
    }
    if (w.replace) t.nodes.clear();
    for (const k of w.deletes) t.nodes.delete(k.toString('hex'));
    for (const n of w.puts) t.nodes.set(n.key.toString('hex'), n);
    t.state = { seq: w.seq, gen: t.state.gen + 1, format: w.format };
    this.trees.set(tree, t);
    this.commits.push(w);
    return true;
  }
}

const digest = (s: string) => createHash('md5').update(s).digest();

async function assertHolds(backend: MemoryBackend, tree: Awaited<ReturnType<StoredReconTrees['open']>>): Promise<void> {
  const mem = new MemoryPrefixTree(tree.settings);
  for await (const d of backend.digests()) await mem.insert(zpFromDigest(d));
  const [root, want] = [await tree.root(), await mem.root()];
  assert.equal(root.size, want.size);
  assert.deepEqual(root.svalues, want.svalues);
}

describe('persistent prefix trees: the shared logic', () => {
  test('a digest two certificates share (an MD5 collision) stays until the last of them goes, in any feed order', async () => {
    const b = new MemoryBackend();
    const tree = await new StoredReconTrees(b).open(SMALL_TREE);
    const d = digest('collision');
    const z = zpFromDigest(d);
    for (let i = 0; i < 20; i++) b.put(`FILLER${i}`, digest(`filler ${i}`));
    b.put('A', d);
    b.put('B', d);
    await tree.catchUp();
    assert.equal(await tree.has(z), true);
    // The feed says d went with A; the index says B still has it.
    b.delete('A');
    await tree.catchUp();
    assert.equal(await tree.has(z), true);
    await assertHolds(b, tree);
    b.delete('B');
    await tree.catchUp();
    assert.equal(await tree.has(z), false);
    // Within one backlog: added twice, removed once, and B updated away from d and back.
    b.put('A', d);
    b.put('B', d);
    b.delete('A');
    b.put('B', digest('B, updated'));
    b.put('B', d);
    await tree.catchUp();
    assert.equal(await tree.has(z), true);
    await assertHolds(b, tree);
  });

  test('a tree from older code, or never built, is rebuilt by catchUp', async () => {
    const b = new MemoryBackend();
    for (let i = 0; i < 30; i++) b.put(`C${i}`, digest(`c ${i}`));
    const tree = await new StoredReconTrees(b).open(SMALL_TREE);
    assert.equal(await tree.catchUp(), 30);
    assert.equal(b.commits.at(-1)?.replace, true);
    // Format 0: rows someone wrote without building the tree; any other format: older code.
    for (const format of [0, 99]) {
      b.trees.get(tree.name)!.state.format = format;
      b.put(`D${format}`, digest(`d ${format}`));
      b.commits.length = 0;
      assert.equal(await tree.catchUp(), b.feed.length);
      assert.deepEqual(
        b.commits.map((c) => c.replace),
        [true],
      );
      await assertHolds(b, tree);
    }
  });

  test('a commit that another process beat is tried again from the new state', async () => {
    const b = new MemoryBackend();
    const trees = new StoredReconTrees(b);
    const [mine, theirs] = [await trees.open(SMALL_TREE), await trees.open(SMALL_TREE)];
    for (let i = 0; i < 40; i++) b.put(`C${i}`, digest(`c ${i}`));
    await mine.catchUp();
    for (let i = 40; i < 60; i++) b.put(`C${i}`, digest(`c ${i}`));
    b.delete('C3');
    b.beforeCommit = async () => {
      b.put('C60', digest('c 60'));
      await theirs.catchUp();
    };
    const target = b.feed.length;
    // Theirs reached the change made after mine started, and mine, refused, finds the tree there.
    assert.equal(await mine.catchUp(), target + 1);
    assert.equal(b.refused, 1);
    await assertHolds(b, mine);
    b.put('C61', digest('c 61'));
    b.beforeCommit = async () => {
      b.delete('C10');
      await theirs.insert(zpFromDigest(digest('not a certificate')));
    };
    // Tried again, it applies what the feed holds by then, the delete too.
    assert.equal(await mine.catchUp(), target + 3);
    assert.equal(b.refused, 2);
    assert.equal(await mine.has(zpFromDigest(digest('not a certificate'))), true, 'the rival commit is kept');
    assert.equal(await mine.has(zpFromDigest(digest('c 61'))), true);
    assert.equal(await mine.has(zpFromDigest(digest('c 10'))), false);
    await mine.rebuild();
    await assertHolds(b, mine);
  });

  test('digests that cannot be elements (sample points, wrong lengths) are left out without stopping catchUp', async () => {
    const b = new MemoryBackend();
    const tree = await new StoredReconTrees(b).open(SMALL_TREE);
    const point = Buffer.alloc(16);
    point[0] = 1; // 1 little-endian: a sample point
    b.put('P', point);
    b.put('S', Buffer.from('short'));
    b.put('G', digest('good'));
    assert.equal(await tree.catchUp(), 3);
    assert.deepEqual(await (await tree.root()).elements(), [zpFromDigest(digest('good'))]);
    assert.equal(await tree.rebuild(), 1);
  });

  test(`a backlog longer than ${REBUILD_BACKLOG} changes and than the tree is rebuilt, not replayed`, async () => {
    const b = new MemoryBackend();
    const tree = await new StoredReconTrees(b).open(SMALL_TREE);
    b.put('first', digest('first'));
    await tree.catchUp();
    for (let i = 0; i <= REBUILD_BACKLOG; i++) b.put(`C${i % 500}`, digest(`c ${i}`));
    b.commits.length = 0;
    assert.equal(await tree.catchUp(), b.feed.length);
    assert.deepEqual(
      b.commits.map((c) => c.replace),
      [true],
    );
    await assertHolds(b, tree);
  });
});
