/**
 * The recon prefix trees on a `SqliteDatabase` (`ReconTrees`): the rows of schema 6
 * (migrations.ts) for the shared logic in ../recon-tree.ts. Reads are single statements; each
 * commit is one `write` transaction that checks the tree's gen before writing.
 */
import type Database from 'better-sqlite3';
import type { Change } from '../types.js';
import { type NodeRow, type ReconTreeBackend, StoredReconTrees, type TreeState, type TreeWrite } from '../recon-tree.js';
import { SqliteChangeFeed } from './changes.js';
import { SqliteDigestIndex } from './certs.js';
import type { SqliteDatabase } from './database.js';

class SqliteReconTreeBackend implements ReconTreeBackend {
  private readonly s: {
    state: Database.Statement<[string], TreeState>;
    node: Database.Statement<[string, Buffer], NodeRow>;
    present: Database.Statement<[Buffer], { one: number }>;
    upsertTree: Database.Statement<[string, number, number, number]>;
    clear: Database.Statement<[string]>;
    put: Database.Statement<[string, Buffer, number, Buffer, Buffer | null]>;
    del: Database.Statement<[string, Buffer]>;
  };
  private readonly feed: SqliteChangeFeed;
  private readonly index: SqliteDigestIndex;

  constructor(private readonly database: SqliteDatabase) {
    const db = database.db;
    this.s = {
      state: db.prepare('SELECT seq, gen, format FROM recon_trees WHERE name = ?'),
      node: db.prepare('SELECT key, size, svalues, elements FROM recon_nodes WHERE tree = ? AND key = ?'),
      present: db.prepare('SELECT 1 AS one FROM certs WHERE digest = ? LIMIT 1'),
      upsertTree: db.prepare(
        'INSERT INTO recon_trees (name, format, seq, gen) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET format = excluded.format, seq = excluded.seq, gen = excluded.gen',
      ),
      clear: db.prepare('DELETE FROM recon_nodes WHERE tree = ?'),
      put: db.prepare(
        'INSERT INTO recon_nodes (tree, key, size, svalues, elements) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tree, key) DO UPDATE SET size = excluded.size, svalues = excluded.svalues, elements = excluded.elements',
      ),
      del: db.prepare('DELETE FROM recon_nodes WHERE tree = ? AND key = ?'),
    };
    this.feed = new SqliteChangeFeed(database);
    this.index = new SqliteDigestIndex(database);
  }

  async state(tree: string): Promise<TreeState> {
    return this.database.read('cannot read a prefix tree', () => this.s.state.get(tree) ?? { seq: 0, gen: 0, format: 0 });
  }

  async nodes(tree: string, keys: readonly Buffer[]): Promise<NodeRow[]> {
    return this.database.read('cannot read a prefix tree', () => {
      const out: NodeRow[] = [];
      for (const k of keys) {
        const row = this.s.node.get(tree, k);
        if (row) out.push(row);
      }
      return out;
    });
  }

  latest(): Promise<number> {
    return this.feed.latest();
  }

  since(after: number, limit: number): Promise<Change[]> {
    return this.feed.since(after, limit);
  }

  async present(digests: readonly Buffer[]): Promise<Set<string>> {
    return this.database.read('cannot look up digests', () => new Set(digests.filter((d) => this.s.present.get(d)).map((d) => d.toString('hex'))));
  }

  digests(): AsyncIterable<Buffer> {
    return this.index.digests();
  }

  async commit(tree: string, w: TreeWrite): Promise<boolean> {
    return this.database.write('cannot write a prefix tree', () => {
      const gen = this.s.state.get(tree)?.gen ?? 0;
      if (w.expectGen !== undefined && w.expectGen !== gen) return false;
      if (w.replace) this.s.clear.run(tree);
      for (const k of w.deletes) this.s.del.run(tree, k);
      for (const n of w.puts) this.s.put.run(tree, n.key, n.size, n.svalues, n.elements);
      this.s.upsertTree.run(tree, w.format, w.seq, gen + 1);
      return true;
    });
  }
}

/** `ReconTrees` on a `SqliteDatabase`. */
export class SqliteReconTrees extends StoredReconTrees {
  constructor(database: SqliteDatabase) {
    super(new SqliteReconTreeBackend(database));
  }
}
