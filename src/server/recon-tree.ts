/**
 * The prefix tree recon runs on: the store's persistent one (`store.reconTrees`, SQLite or
 * PostgreSQL, caught up from the change feed; src/store/types.ts says what it guarantees).
 * The recon service takes a `ReconTreeSource`, so tests and tools can hand it another.
 */
import type { ReconTree, ReconTrees, Store } from '../store/types.js';

export type { ReconTree };

export type ReconTreeSource = ReconTrees;

/** The store's recon trees. */
export function reconTreesOf(store: Pick<Store, 'reconTrees'>): ReconTreeSource {
  return store.reconTrees;
}
