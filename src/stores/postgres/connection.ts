import pg, { type Pool, type PoolClient, type PoolConfig, type QueryConfig } from 'pg';

import { toMilliseconds, type Duration } from '../../core/duration.js';
import { withoutPassword } from '../../core/location.js';

/** Options shared by both ways of giving the store its database. */
export interface PostgresStoreCommonOptions {
  /** The table (`name` or `schema.name`). Default `tollgate_idempotency`. */
  table?: string;
  /**
   * Longest a statement of the store may take before its connection gives it up (node-postgres's
   * `query_timeout`), so a silent database never holds a connection. Default `'5s'`. Requests are
   * answered sooner: each store call has the route's own `storeTimeout`.
   */
  queryTimeout?: Duration;
  /**
   * How often a bounded batch of expired rows (ended leases, results past their retention) is
   * deleted, by a timer that never keeps the process alive. `false`: never (delete them yourself:
   * `purgeExpired()`). Default `'1m'`.
   */
  cleanupInterval?: Duration | false;
}

export type PostgresStoreOptions = PostgresStoreCommonOptions &
  (
    | {
        /**
         * The application's own `pg` Pool: the one its handlers write with, so that
         * `lease.transaction()` runs in the same database. It is left open by `close()`.
         */
        pool: Pool;
      }
    | {
        /** A `postgres://` URL; the store opens a pool of its own and closes it on `close()`. */
        connectionString: string;
        /** More `pg` Pool options for that pool. */
        poolOptions?: PoolConfig;
      }
  );

/** The store's pool, and whether the store made it (and so ends it). */
export interface Connection {
  pool: Pool;
  owned: boolean;
  location: string;
  queryTimeoutMs: number;
}

export function openConnection(options: PostgresStoreOptions): Connection {
  const queryTimeoutMs = toMilliseconds(options.queryTimeout ?? '5s', 'queryTimeout');
  if ('pool' in options) {
    return {
      pool: options.pool,
      owned: false,
      location: describePool(options.pool),
      queryTimeoutMs,
    };
  }
  const pool = new pg.Pool({
    // Never wait for ever for a connection, nor let a silent server hold one.
    connectionTimeoutMillis: Math.min(queryTimeoutMs, 2_000),
    query_timeout: queryTimeoutMs,
    statement_timeout: queryTimeoutMs,
    ...options.poolOptions,
    connectionString: options.connectionString,
  });
  // An idle client's error (the server restarted) would otherwise crash the process: the next
  // query fails instead, and the engines turn that into the route's policy.
  pool.on('error', () => undefined);
  return {
    pool,
    owned: true,
    location: hidePassword(options.connectionString),
    queryTimeoutMs,
  };
}

/**
 * A connection from the pool within `ms`, or an error: a pool whose own `connectionTimeoutMillis`
 * is 0 (pg's default) waits for ever on a paused server. A connection that arrives late goes back.
 */
export function connectWithin(pool: Pool, ms: number): Promise<PoolClient> {
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new Error(`no database connection within ${ms} ms`));
    }, ms);
    pool.connect().then(
      (client) => {
        clearTimeout(timer);
        if (late) client.release();
        else resolve(client);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** `postgres://user:***@host:port/db`: the password (and any query string) never shown. */
export function hidePassword(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'postgres (an unreadable URL)';
  }
  return withoutPassword(parsed);
}

function describePool(pool: Pool): string {
  const options = (pool as unknown as { options?: PoolConfig }).options ?? {};
  if (typeof options.connectionString === 'string') return hidePassword(options.connectionString);
  const user = typeof options.user === 'string' ? `${options.user}@` : '';
  const host = options.host ?? 'localhost';
  return `postgres://${user}${host}:${options.port ?? 5432}/${options.database ?? ''}`;
}

/**
 * A query that its connection gives up after `ms` (node-postgres's per-query `query_timeout`,
 * which its types leave out), so that a silent server never holds a connection.
 */
export function timedQuery(text: string, values: unknown[], ms: number): QueryConfig {
  return { text, values, query_timeout: ms } as QueryConfig;
}
