/**
 * The prefix tree recon runs on, as the store provides it (`store.reconTrees`: persistent,
 * kept up to date from the change feed), and a stand-in for stores without one: a memory tree
 * filled from the store's digests at start and then caught up from the change feed. The
 * stand-in costs one scan of the digests per process start and memory for the whole tree.
 */
import { InputError, MsError } from '../errors.js';
import { MemoryPrefixTree } from '../recon/memory-tree.js';
import type { PrefixTree, ReconSettings } from '../recon/ptree.js';
import { zpFromDigest } from '../recon/zp.js';
import type { Store } from '../store/types.js';

/** A prefix tree over the store's SKS digests. */
export interface ReconTree extends PrefixTree {
  /** Applies the store's changes since the tree's seq; returns the seq reached. */
  catchUp(): Promise<number>;
  /** Builds the tree again from every stored digest; returns how many elements it holds. */
  rebuild(): Promise<number>;
  /** The change seq the tree reflects. */
  seq(): Promise<number>;
}

export interface ReconTreeSource {
  open(settings: ReconSettings): Promise<ReconTree>;
}

/** The store's persistent trees when it has them, else memory trees over its digests. */
export function reconTreesOf(store: Store): ReconTreeSource {
  const own = (store as Store & { reconTrees?: ReconTreeSource }).reconTrees;
  return own ?? { open: (settings) => MemoryReconTree.open(store, settings) };
}

/** Whether an error is the tree refusing an element it cannot hold (a sample point: vanishingly rare). */
function unplaceable(err: unknown): boolean {
  return err instanceof InputError && err.code === 'MS_RECON_ELEMENT';
}

/** A memory tree mirroring the store's digests. */
export class MemoryReconTree extends MemoryPrefixTree implements ReconTree {
  private applied = 0;

  private constructor(
    private readonly source: Store,
    settings: ReconSettings,
  ) {
    super(settings);
  }

  static async open(store: Store, settings: ReconSettings): Promise<MemoryReconTree> {
    const t = new MemoryReconTree(store, settings);
    await t.fill();
    return t;
  }

  private async fill(): Promise<number> {
    // Changes made during the scan are applied again by the next catch-up; both steps are idempotent.
    this.applied = await this.source.changes.latest();
    let n = 0;
    for await (const d of this.source.digests.digests()) {
      if (await this.add(d)) n++;
    }
    return n;
  }

  private async add(digest: Buffer): Promise<boolean> {
    const z = zpFromDigest(digest);
    if (await this.has(z)) return false;
    try {
      await this.insert(z);
      return true;
    } catch (err) {
      if (unplaceable(err)) return false;
      throw err;
    }
  }

  async catchUp(): Promise<number> {
    for (;;) {
      const changes = await this.source.changes.since(this.applied, 1000);
      if (changes.length === 0) return this.applied;
      for (const c of changes) {
        if (c.removed && !c.removed.equals(c.added ?? Buffer.alloc(0))) {
          const z = zpFromDigest(c.removed);
          // Another certificate may share the digest (a made MD5 collision): then it stays.
          if ((await this.has(z)) && (await this.source.digests.byDigest([c.removed])).length === 0) await this.remove(z);
        }
        if (c.added && (await this.source.digests.byDigest([c.added])).length > 0) await this.add(c.added);
        this.applied = c.seq;
      }
    }
  }

  async rebuild(): Promise<number> {
    for (const node of [...this.nodeStore.nodes()]) this.nodeStore.delete(node.key);
    try {
      return await this.fill();
    } catch (err) {
      throw err instanceof MsError ? err : new MsError('MS_RECON_INTERNAL', `rebuilding the recon tree failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async seq(): Promise<number> {
    return this.applied;
  }
}
