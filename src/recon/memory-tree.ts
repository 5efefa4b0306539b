/**
 * The prefix tree in memory (conflux `MemPrefixTree`): `NodeStorePrefixTree` over a Map from
 * prefix to node. For tests, tools and small keyservers; a keyserver's tree lives in its store.
 */
import type { Bitstring } from './bitstring.js';
import { DEFAULT_RECON_SETTINGS, type NodeData, type NodeStore, NodeStorePrefixTree, type ReconSettings } from './ptree.js';

/** Nodes in a Map keyed by the prefix's bits. */
export class MemoryNodeStore implements NodeStore {
  readonly #nodes = new Map<string, NodeData>();

  get(key: Bitstring): NodeData | undefined {
    return this.#nodes.get(key.toString());
  }

  put(node: NodeData): void {
    this.#nodes.set(node.key.toString(), node);
  }

  delete(key: Bitstring): void {
    this.#nodes.delete(key.toString());
  }

  /** Every stored node (the root only once something was written), for invariant checks. */
  nodes(): IterableIterator<NodeData> {
    return this.#nodes.values();
  }
}

export class MemoryPrefixTree extends NodeStorePrefixTree {
  readonly nodeStore: MemoryNodeStore;

  constructor(settings: ReconSettings = DEFAULT_RECON_SETTINGS) {
    const store = new MemoryNodeStore();
    super(store, settings);
    this.nodeStore = store;
  }
}
