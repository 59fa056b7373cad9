import type { Pool, PoolClient } from 'pg';

import type {
  CommittedResult,
  OpenTransaction,
  StoredResponse,
  StoreTransactions,
} from '../../core/store.js';
import { connectWithin, timedQuery } from './connection.js';
import { executorFor } from './executors.js';

/**
 * Joins the store's record to the application's transaction: one the store opens on the pool
 * (`lease.transaction()`), or one the application opened (`lease.recordIn()`).
 */
export class PostgresTransactions implements StoreTransactions {
  constructor(
    private readonly pool: Pool,
    private readonly sql: { record: string; recordState: string },
    private readonly queryTimeoutMs: number,
    /** The store's own `complete`. */
    private readonly complete: (
      key: string,
      owner: string,
      response: StoredResponse,
      retentionMs: number,
    ) => Promise<boolean>,
  ) {}

  async open(): Promise<OpenTransaction> {
    const client = await connectWithin(this.pool, this.queryTimeoutMs);
    const transaction = new PoolTransaction(client, this.queryTimeoutMs);
    try {
      await client.query(timedQuery('BEGIN', [], this.queryTimeoutMs));
    } catch (error) {
      await transaction.rollback();
      throw error;
    }
    return transaction;
  }

  async record(
    tx: unknown,
    key: string,
    owner: string,
    result: CommittedResult,
    retentionMs: number,
  ): Promise<boolean> {
    const run = executorFor(tx, this.queryTimeoutMs);
    const { rows } = await run(this.sql.record, [
      key,
      owner,
      result.status,
      JSON.stringify(result.headers),
      result.json ?? null,
      retentionMs,
    ]);
    return rows.length > 0;
  }

  async completeCommitted(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean | 'not-committed'> {
    // First the record's state once the transaction that wrote it has ended: an UPDATE alone
    // would skip a row that is still in progress in its snapshot rather than wait for the commit.
    const { rows: found } = await this.query<{ state: string }>(this.sql.recordState, [key, owner]);
    if (found[0]?.state === 'in-progress') return 'not-committed';
    return this.complete(key, owner, response, retentionMs);
  }

  private query<Row extends object>(text: string, values: unknown[]): Promise<{ rows: Row[] }> {
    return this.pool.query<Row>(timedQuery(text, values, this.queryTimeoutMs));
  }
}

/** A transaction on a connection of the pool, given back once it ends. */
class PoolTransaction implements OpenTransaction {
  private done = false;
  private broken = false;

  constructor(
    readonly client: PoolClient,
    private readonly queryTimeoutMs: number,
  ) {
    // A connection that drops while the handler's work runs (the server restarted) emits 'error':
    // without a listener that would crash the process. The work's next query fails instead, and
    // the connection is not given back to the pool.
    client.on('error', this.onError);
  }

  private readonly onError = (): void => {
    this.broken = true;
  };

  async commit(): Promise<void> {
    let command: string;
    try {
      ({ command } = await this.client.query(timedQuery('COMMIT', [], this.queryTimeoutMs)));
    } catch (error) {
      // Whether it committed is unknown: the connection is not reused.
      this.end(true);
      throw error;
    }
    this.end(false);
    // A transaction a failed statement aborted (one the work left running after the record) is
    // rolled back by COMMIT, which answers ROLLBACK and no error: nothing committed.
    if (command !== 'COMMIT') {
      throw new Error(`COMMIT answered ${command}: a statement in the transaction had failed`);
    }
  }

  async rollback(): Promise<void> {
    if (this.done) return;
    try {
      await this.client.query(timedQuery('ROLLBACK', [], this.queryTimeoutMs));
      this.end(false);
    } catch {
      // Closing the connection rolls the transaction back on the server.
      this.end(true);
    }
  }

  private end(destroy: boolean): void {
    if (this.done) return;
    this.done = true;
    this.client.removeListener('error', this.onError);
    this.client.release(destroy || this.broken);
  }
}
