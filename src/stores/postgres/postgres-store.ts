import type { Pool } from 'pg';

import { withDeadline } from '../../core/deadline.js';
import { toMilliseconds } from '../../core/duration.js';
import { toError } from '../../core/errors.js';
import { DEFAULT_HEALTH_TIMEOUT_MS, elapsedSince } from '../../core/health.js';
import type {
  BeginResult,
  LockResult,
  StoredResponse,
  StoreHealth,
  StoreHealthOptions,
  StoreTransactions,
  TollgateStore,
  UnstorableReason,
} from '../../core/store.js';
import {
  openConnection,
  timedQuery,
  type Connection,
  type PostgresStoreOptions,
} from './connection.js';
import { LateTakes } from './late-takes.js';
import { readHeld, type Row } from './rows.js';
import { postgresMigration, schemaNames } from './schema.js';
import { statements, type Statements } from './statements.js';
import { PostgresTransactions } from './transactions.js';

/** Rows one clean-up deletes at most: a bounded statement, however many expired. */
const PURGE_BATCH = 500;
/** How many times a take is retried when it saw a row that a concurrent take changed. */
const TAKE_ATTEMPTS = 5;
/** How often `ready()` tries again while the database cannot be used. */
const READY_RETRY_MS = 250;

/**
 * The idempotency store in the application's own PostgreSQL (15 or later): one table, every
 * decision one statement, timed by the database's clock. Besides what every store does, it can
 * commit a request's record in the handler's own transaction (`lease.transaction()`,
 * `lease.recordIn()`), so the handler's writes and the record commit, or roll back, together.
 * It does not rate-limit (`throttle()` and `ThrottleGuard` refuse it at start-up).
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { PostgresStore } from 'tollgate/postgres';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * const store = new PostgresStore({ pool });
 * await store.ensureSchema(); // or run postgresMigration() with your migrations
 * ```
 */
export class PostgresStore implements TollgateStore {
  readonly kind = 'postgres';
  readonly location: string;
  /** The pool the store queries: the application's own, or the one it opened. */
  readonly pool: Pool;
  readonly transactions: StoreTransactions;
  private readonly connection: Connection;
  private readonly sql: Statements;
  private readonly table: string | undefined;
  private readonly cleaner: NodeJS.Timeout | undefined;
  private problem: string | undefined;
  private closed = false;
  private readonly lateTakes = new LateTakes((key, owner) => this.releaseNow(key, owner));

  constructor(options: PostgresStoreOptions) {
    const names = schemaNames(options.table);
    this.table = options.table;
    this.sql = statements(names);
    const cleanupMs =
      options.cleanupInterval === false
        ? undefined
        : toMilliseconds(options.cleanupInterval ?? '1m', 'cleanupInterval');
    this.connection = openConnection(options);
    this.pool = this.connection.pool;
    this.location = this.connection.location;
    this.transactions = new PostgresTransactions(
      this.pool,
      this.sql,
      this.connection.queryTimeoutMs,
      (key, owner, response, retentionMs) => this.complete(key, owner, response, retentionMs),
    );
    if (cleanupMs !== undefined) {
      this.cleaner = setInterval(() => {
        this.purgeExpired().catch(() => undefined);
      }, cleanupMs);
      this.cleaner.unref();
    }
  }

  /** The SQL that creates the store's table, sequence and index (`postgresMigration()`). */
  get migration(): string {
    return postgresMigration(this.table === undefined ? {} : { table: this.table });
  }

  /**
   * Creates the table, sequence and index if they do not exist, under an advisory lock so that
   * several processes starting at once do not collide. Opt-in: with migrations of your own, run
   * `postgresMigration()` there instead.
   */
  async ensureSchema(): Promise<void> {
    const client = await this.pool.connect();
    // A checked-out client has no listener of the pool's: a connection that drops while this
    // waits for the lock (the server restarts) would emit an 'error' that crashes the process.
    // The query in flight fails instead, and the connection is not given back.
    let broken = false;
    const onError = (): void => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('tollgate:ensureSchema'))");
      await client.query(this.migration);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /** Deletes up to 500 expired rows; resolves to how many. The store does this on a timer too. */
  async purgeExpired(): Promise<number> {
    const result = await this.query(this.sql.purge, [PURGE_BATCH]);
    return result.rowCount ?? 0;
  }

  async ready(): Promise<void> {
    for (;;) {
      if (this.closed) throw new Error('the store is closed');
      try {
        await this.query(this.sql.probe, []);
        this.problem = undefined;
        return;
      } catch (error) {
        this.problem = describeProblem(error);
      }
      await new Promise((resolve) => setTimeout(resolve, READY_RETRY_MS).unref());
    }
  }

  connectionProblem(): string | undefined {
    return this.problem;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.cleaner) clearInterval(this.cleaner);
    if (this.connection.owned) await this.pool.end();
  }

  /** A bounded query of the store's table: down when the database is gone, silent, or has no table. */
  async health(options: StoreHealthOptions = {}): Promise<StoreHealth> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    const started = performance.now();
    try {
      await withDeadline('a health check', timeoutMs, () => this.query(this.sql.probe, []));
      return { status: 'up', latencyMs: elapsedSince(started) };
    } catch (error) {
      const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
      return {
        status: 'down',
        latencyMs: elapsedSince(started),
        detail: cause === error ? toError(error).message : describeProblem(cause),
      };
    }
  }

  begin(key: string, owner: string, fingerprint: string, leaseMs: number): Promise<BeginResult> {
    return this.lateTakes.track(
      key,
      owner,
      leaseMs,
      () => this.take(key, owner, fingerprint, leaseMs),
      (result) => result.state === 'acquired',
    );
  }

  lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    return this.lateTakes.track(
      key,
      owner,
      ttlMs,
      () => this.takeLock(key, owner, ttlMs),
      (result) => result.acquired,
    );
  }

  private async take(
    key: string,
    owner: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<BeginResult> {
    for (let attempt = 1; ; attempt++) {
      const { rows } = await this.query(this.sql.begin, [key, owner, fingerprint, leaseMs]);
      const row = rows[0] as Row | undefined;
      if (row?.found === 'acquired') {
        return { state: 'acquired', fencingToken: Number(row.taken_token) };
      }
      const held = row && readHeld(row, owner, fingerprint);
      if (held) return held;
      // Gone or expired when the statement began, yet not taken: a concurrent take changed it.
      if (attempt >= TAKE_ATTEMPTS) return { state: 'in-progress', retryAfterMs: 50 };
    }
  }

  private async takeLock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    for (let attempt = 1; ; attempt++) {
      const { rows } = await this.query(this.sql.lock, [key, owner, ttlMs]);
      const row = rows[0] as Row | undefined;
      if (row?.found === 'acquired') {
        return { acquired: true, fencingToken: Number(row.taken_token) };
      }
      if (row && Number(row.remaining_ms) > 0) {
        if (row.state === 'lock' && row.owner === owner) {
          return { acquired: true, fencingToken: Number(row.fencing_token) };
        }
        return { acquired: false, retryAfterMs: Number(row.remaining_ms) };
      }
      if (attempt >= TAKE_ATTEMPTS) return { acquired: false, retryAfterMs: 50 };
    }
  }

  async complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    const { rows } = await this.query(this.sql.complete, [
      key,
      owner,
      response.status,
      JSON.stringify(response.headers),
      Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength),
      retentionMs,
    ]);
    return rows[0]?.ok === true;
  }

  async markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean> {
    const { rows } = await this.query(this.sql.markUnstorable, [key, owner, reason, retentionMs]);
    return rows[0]?.ok === true;
  }

  release(key: string, owner: string): Promise<boolean> {
    this.lateTakes.abandon(owner);
    return this.releaseNow(key, owner);
  }

  private async releaseNow(key: string, owner: string): Promise<boolean> {
    return ((await this.query(this.sql.release, [key, owner])).rowCount ?? 0) > 0;
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return ((await this.query(this.sql.renew, [key, owner, leaseMs])).rowCount ?? 0) > 0;
  }

  private query(
    text: string,
    values: unknown[],
  ): Promise<{ rows: Array<Record<string, unknown>>; rowCount: number | null }> {
    return this.pool.query(timedQuery(text, values, this.connection.queryTimeoutMs));
  }
}

/** Why the store cannot serve, in words an operator can act on. */
function describeProblem(error: unknown): string {
  const { message, code } = toError(error) as Error & { code?: string };
  if (code === '42P01') {
    return `${message}: create it with store.ensureSchema() or the SQL of postgresMigration()`;
  }
  return message;
}
