import { TollgateConfigError } from '../../core/errors.js';

/** What a query gives back, whichever library ran it. */
export interface Rows {
  rows: Array<Record<string, unknown>>;
}

/** Runs one parameterized statement (`$1`, `$2`, ...) inside a transaction the application opened. */
export type Executor = (text: string, values: readonly unknown[]) => Promise<Rows>;

/** A node-postgres client (`PoolClient` or `Client`), as far as the store uses one. */
export interface PgQueryable {
  query(config: {
    text: string;
    values?: unknown[];
    query_timeout?: number;
  }): Promise<{ rows: Array<Record<string, unknown>> }>;
}

type Shape = Record<string, unknown>;

/**
 * Recognises the application's transaction by its shape, so that no query builder is imported
 * here: a node-postgres client after `BEGIN`, a Knex transaction (`trx`), a Kysely `Transaction`.
 * Anything else (a pool, a Knex or Kysely instance outside a transaction) is refused: its writes
 * would commit on their own, apart from the handler's.
 */
export function executorFor(tx: unknown, queryTimeoutMs: number): Executor {
  const shape = (typeof tx === 'object' || typeof tx === 'function') && tx !== null ? tx : {};
  const candidate = shape as Shape;
  // Kysely: `db.transaction().execute(async (trx) => ...)`.
  if (typeof candidate.executeQuery === 'function' && 'isTransaction' in candidate) {
    if (candidate.isTransaction !== true) throw notInTransaction('a Kysely instance', 'trx');
    const kysely = candidate as { executeQuery(query: unknown): Promise<{ rows: unknown[] }> };
    return async (text, values) => {
      const { rows } = await kysely.executeQuery({
        sql: text,
        parameters: values,
        query: { kind: 'RawNode', sqlFragments: [text], parameters: [] },
        queryId: { queryId: 'tollgate' },
      });
      return { rows: rows as Rows['rows'] };
    };
  }
  // Knex: `knex.transaction(async (trx) => ...)`; trx is a function with `raw`.
  if (typeof candidate.raw === 'function' && 'isTransaction' in candidate) {
    if (candidate.isTransaction !== true) throw notInTransaction('a Knex instance', 'trx');
    const knex = candidate as {
      raw(sql: string, bindings: unknown[]): { timeout(ms: number): Promise<Rows> };
    };
    return async (text, values) => {
      const { sql, bindings } = positional(text, values);
      return knex.raw(sql, bindings).timeout(queryTimeoutMs);
    };
  }
  // node-postgres: a pool's `totalCount` says it is a pool, whose queries run on any connection.
  if (typeof candidate.query === 'function' && !('totalCount' in candidate)) {
    const status =
      typeof candidate.getTransactionStatus === 'function'
        ? (candidate as { getTransactionStatus(): string | null }).getTransactionStatus()
        : null;
    if (status === 'I') throw notInTransaction('a pg client outside a transaction', 'client');
    const client = candidate as unknown as PgQueryable;
    const run: Executor = (text, values) =>
      client.query({ text, values: [...values], query_timeout: queryTimeoutMs });
    if (status === 'T' || status === 'E') return run;
    // pg before 8.21 has no getTransactionStatus(), and pg-native's answers null: the server is
    // asked, or a client outside BEGIN would commit the record on its own, apart from the writes.
    return async (text, values) => {
      await refuseOutsideTransaction(client, queryTimeoutMs);
      return run(text, values);
    };
  }
  if ('totalCount' in candidate) throw notInTransaction('a pg Pool', 'client');
  throw new TollgateConfigError(
    'TOLLGATE_UNKNOWN_TRANSACTION',
    'lease.recordIn() needs the transaction your writes run in: a pg PoolClient or Client after BEGIN, a Knex trx or a Kysely Transaction',
  );
}

/**
 * Throws unless `client` is inside a transaction block. The first statement of a transaction has
 * `now()` equal to `statement_timestamp()`; a statement after `BEGIN` does not. Sent without
 * parameters, so on the simple protocol: on the extended one the two differ even outside a block.
 */
async function refuseOutsideTransaction(
  client: PgQueryable,
  queryTimeoutMs: number,
): Promise<void> {
  const { rows } = await client.query({
    text: 'SELECT now() = statement_timestamp() AS outside',
    query_timeout: queryTimeoutMs,
  });
  if (rows[0]?.outside === true) {
    throw notInTransaction('a pg client outside a transaction', 'client');
  }
}

function notInTransaction(what: string, fix: string): TollgateConfigError {
  return new TollgateConfigError(
    'TOLLGATE_UNKNOWN_TRANSACTION',
    `lease.recordIn() was given ${what}, not a transaction: its write would commit apart from yours. Pass the transaction's ${fix}`,
  );
}

/** `$n` placeholders as Knex's `?`, with the values in the order they appear. */
function positional(
  text: string,
  values: readonly unknown[],
): { sql: string; bindings: unknown[] } {
  const bindings: unknown[] = [];
  const sql = text.replace(/\$(\d+)/g, (_, index: string) => {
    bindings.push(values[Number(index) - 1]);
    return '?';
  });
  return { sql, bindings };
}
