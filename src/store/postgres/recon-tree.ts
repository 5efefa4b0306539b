/**
 * The recon prefix trees on PostgreSQL (`ReconTrees`): the rows of schema 4 (migrations.ts)
 * for the shared logic in ../recon-tree.ts. Nodes are read and written in batches (`= ANY`,
 * `unnest`); each commit is one transaction holding the tree's row lock, which serialises
 * commits to one tree without the store's write lock, so uploads do not wait for recon.
 */
import { EnvironmentError } from '../../errors.js';
import type { Change } from '../types.js';
import { type NodeRow, type ReconTreeBackend, StoredReconTrees, type TreeState, type TreeWrite } from '../recon-tree.js';
import { PostgresDigestIndex } from './certs.js';
import type { PostgresDatabase } from './database.js';
import { PostgresChangeFeed } from './feed.js';

/** Rows per INSERT … unnest: one statement's worth, far from the parameter limits (arrays are one parameter each). */
const BATCH = 5000;

type Row = { key: Buffer; size: number; svalues: Buffer; elements: Buffer | null };

class PostgresReconTreeBackend implements ReconTreeBackend {
  private readonly feed: PostgresChangeFeed;
  private readonly index: PostgresDigestIndex;

  constructor(private readonly database: PostgresDatabase) {
    this.feed = new PostgresChangeFeed(database);
    this.index = new PostgresDigestIndex(database);
  }

  async state(tree: string): Promise<TreeState> {
    const rows = await this.database.query<{ seq: string; gen: string; format: number }>('cannot read a prefix tree', 'SELECT seq, gen, format FROM recon_trees WHERE name = $1', [tree]);
    return rows[0] ? { seq: Number(rows[0].seq), gen: Number(rows[0].gen), format: rows[0].format } : { seq: 0, gen: 0, format: 0 };
  }

  async nodes(tree: string, keys: readonly Buffer[]): Promise<NodeRow[]> {
    if (keys.length === 0) return [];
    return this.database.query<Row>('cannot read a prefix tree', 'SELECT key, size, svalues, elements FROM recon_nodes WHERE tree = $1 AND key = ANY($2::bytea[])', [tree, keys]);
  }

  latest(): Promise<number> {
    return this.feed.latest();
  }

  since(after: number, limit: number): Promise<Change[]> {
    return this.feed.since(after, limit);
  }

  async present(digests: readonly Buffer[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.database.query<{ digest: Buffer }>('cannot look up digests', 'SELECT DISTINCT digest FROM certs WHERE digest = ANY($1::bytea[])', [digests]);
    return new Set(rows.map((r) => r.digest.toString('hex')));
  }

  digests(): AsyncIterable<Buffer> {
    return this.index.digests();
  }

  async commit(tree: string, w: TreeWrite): Promise<boolean> {
    const what = 'cannot write a prefix tree';
    if (this.database.readonly) {
      throw new EnvironmentError('MS_STORE_READONLY', `${what}: the store ${JSON.stringify(this.database.location)} is open read-only`, {
        hints: ['run this as a user who can write the store'],
        data: { path: this.database.location },
      });
    }
    return this.database.transaction(what, async (c) => {
      // Creating the row first gives a tree never written a row to lock, so two first commits queue as later ones do.
      await c.query('INSERT INTO recon_trees (name, format, seq, gen) VALUES ($1, 0, 0, 0) ON CONFLICT (name) DO NOTHING', [tree]);
      const gen = Number((await c.query<{ gen: string }>('SELECT gen FROM recon_trees WHERE name = $1 FOR UPDATE', [tree])).rows[0].gen);
      if (w.expectGen !== undefined && w.expectGen !== gen) return false;
      if (w.replace) await c.query('DELETE FROM recon_nodes WHERE tree = $1', [tree]);
      if (w.deletes.length > 0) await c.query('DELETE FROM recon_nodes WHERE tree = $1 AND key = ANY($2::bytea[])', [tree, w.deletes]);
      for (let i = 0; i < w.puts.length; i += BATCH) {
        const part = w.puts.slice(i, i + BATCH);
        await c.query(
          `INSERT INTO recon_nodes (tree, key, size, svalues, elements)
           SELECT $1, k, s, v, e FROM unnest($2::bytea[], $3::int[], $4::bytea[], $5::bytea[]) AS t(k, s, v, e)
           ON CONFLICT (tree, key) DO UPDATE SET size = excluded.size, svalues = excluded.svalues, elements = excluded.elements`,
          [tree, part.map((n) => n.key), part.map((n) => n.size), part.map((n) => n.svalues), part.map((n) => n.elements)],
        );
      }
      await c.query('UPDATE recon_trees SET format = $2, seq = $3, gen = $4 WHERE name = $1', [tree, w.format, w.seq, gen + 1]);
      return true;
    });
  }
}

/** `ReconTrees` on PostgreSQL. */
export class PostgresReconTrees extends StoredReconTrees {
  constructor(database: PostgresDatabase) {
    super(new PostgresReconTreeBackend(database));
  }
}
