/**
 * The sample on PostgreSQL (`DATABASE_URL`): one `pg` pool of the app's, shared by `PostgresStore`
 * (the idempotency records) and the payments ledger (its rows), so that a payment's row and its
 * idempotency record commit in one transaction on one database. Loaded only in that mode, so the
 * other modes never load `pg`.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import pg from 'pg';
import { StoreUnavailableError, type IdempotencyLease, type TollgateStore } from 'tollgate';
import { PostgresStore } from 'tollgate/postgres';

import {
  entryOf,
  PaymentLedger,
  type LedgerEntry,
  type Payment,
  type PaymentTake,
  type PaymentWrite,
} from './payments.js';

/** The ledger's table, beside (never among) Tollgate's own `tollgate_` tables. */
const TABLE = 'tollgate_sample_payments';

/**
 * Serializes the schema creation of processes that start at once on one database: two concurrent
 * `CREATE TABLE IF NOT EXISTS` of one table can both pass the check, and one then fails.
 */
const SCHEMA_LOCK = 0x746f6c6c; // "toll"

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ${TABLE} (
  n bigserial PRIMARY KEY,
  key text NOT NULL,
  user_id text,
  amount double precision NOT NULL,
  fencing_token bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
)`;

interface Row {
  n: string;
  key: string;
  user_id: string | null;
  amount: number;
  fencing_token: string;
}

const fromRow = (row: Row): LedgerEntry =>
  entryOf(`pay_${row.n}`, {
    key: row.key,
    user: row.user_id ?? undefined,
    amount: row.amount,
    fencingToken: Number(row.fencing_token),
  });

/**
 * The ledger in the app's PostgreSQL. A payment is not fenced by a check at write time, as the
 * Redis ledger's is: its row and Tollgate's record of the request commit in one transaction, and
 * that record is written only by the request that still owns the key, so the row of a request that
 * lost its key, or died before the commit, rolls back with it.
 */
export class PostgresPaymentLedger extends PaymentLedger {
  constructor(
    private readonly pool: pg.Pool,
    /** Called right after a payment commits, before its response is sent or recorded. */
    private readonly afterCommit?: () => void,
  ) {
    super();
  }

  /** Writes one row; in pay(), on the transaction's client, so it commits or rolls back with it. */
  async record(
    write: PaymentWrite,
    client: pg.Pool | pg.PoolClient = this.pool,
  ): Promise<LedgerEntry> {
    const { rows } = await client.query<Row>(
      `INSERT INTO ${TABLE} (key, user_id, amount, fencing_token) VALUES ($1, $2, $3, $4)
       RETURNING n, key, user_id, amount, fencing_token`,
      [write.key, write.user ?? null, write.amount, write.fencingToken],
    );
    return fromRow(rows[0] as Row);
  }

  async list(): Promise<{ count: number; payments: LedgerEntry[] }> {
    const { rows } = await this.pool.query<Row>(
      `SELECT n, key, user_id, amount, fencing_token FROM ${TABLE} ORDER BY n`,
    );
    const payments = rows.map(fromRow);
    return { count: payments.length, payments };
  }

  /**
   * In one transaction: the ledger row, then the wait for the payment provider (a process killed
   * here has written its row but not committed it), then Tollgate's record of the result, then the
   * commit. After the commit no retry runs this again, even if the process dies before it answers.
   */
  override async pay(take: PaymentTake, lease: IdempotencyLease): Promise<Payment> {
    const payment = await lease.transaction<Payment, pg.PoolClient>(
      async (client) => {
        const entry = await this.record(
          { key: take.key, user: take.user, amount: take.amount, fencingToken: lease.fencingToken },
          client,
        );
        // The signal aborts the wait as soon as another request may take over the key...
        await sleep(take.delayMs, undefined, { signal: lease.signal }).catch(() => undefined);
        // ...and then this throws the 409 (lease-lost): the transaction, and the row, roll back.
        lease.throwIfLost();
        return { id: entry.id, amount: entry.amount, fencingToken: entry.fencingToken };
      },
      // What a retry gets if this process dies between the commit and its response.
      { status: 201 },
    );
    this.afterCommit?.();
    return payment;
  }

  /** Creates the ledger's table, one process at a time (see SCHEMA_LOCK). */
  async ensureSchema(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await client.query(SCHEMA);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Nest calls this on shutdown (`enableShutdownHooks()`); the Express sample calls close(). */
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /** Ends the pool; the store was given the pool, so closing the store leaves it open. */
  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}

/**
 * Opens the pool, the store and the ledger on `DATABASE_URL`, and creates their tables. A database
 * that stays unreachable for `waitMs` fails the start with a `StoreUnavailableError`
 * (`exitIfStoreUnreachable`).
 */
export async function openPostgres(
  databaseUrl: string,
  options: {
    dieAfterCommit?: boolean;
    waitMs: number;
    wait: (store: TollgateStore) => Promise<void>;
  },
): Promise<{ store: PostgresStore; ledger: PostgresPaymentLedger }> {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    // A database that accepts TCP but never answers (paused, or a dead host behind a live
    // proxy) fails the checkout instead of hanging the request.
    connectionTimeoutMillis: 2_000,
    keepAlive: true,
  });
  // An idle client whose server went away (a restart, a failover) reports it here; without a
  // listener, the error would end the process. The pool drops that client and opens a new one.
  pool.on('error', () => undefined);
  const store = new PostgresStore({ pool });
  const ledger = new PostgresPaymentLedger(
    pool,
    options.dieAfterCommit
      ? // Test hook: a crash in the narrowest window, committed but not answered.
        () => process.kill(process.pid, 'SIGKILL')
      : undefined,
  );
  try {
    // Tollgate's table first (ensureSchema() is opt-in; a production app would run
    // postgresMigration() with its migrations): the store is not ready without it. A database
    // that is still starting is waited for, as waitForStore waits for Redis.
    const deadline = performance.now() + options.waitMs;
    for (;;) {
      try {
        await store.ensureSchema();
        break;
      } catch (error) {
        if (performance.now() > deadline) {
          throw new StoreUnavailableError(
            `PostgreSQL at ${store.location} could not be used: ${(error as Error).message}`,
            { cause: error },
          );
        }
        await sleep(250);
      }
    }
    await options.wait(store);
    await ledger.ensureSchema();
  } catch (error) {
    await store.close();
    await ledger.close();
    throw error;
  }
  return { store, ledger };
}
