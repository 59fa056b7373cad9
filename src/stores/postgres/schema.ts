import { TollgateConfigError } from '../../core/errors.js';

/** The default table: one row per key (lease, lock, committed result or stored response). */
export const DEFAULT_TABLE = 'tollgate_idempotency';

/** The names the store's SQL uses, each quoted as an identifier. */
export interface SchemaNames {
  /** The table, possibly schema-qualified: `"tollgate_idempotency"` or `"app"."tollgate_idempotency"`. */
  table: string;
  /** The sequence fencing tokens come from: one for every key, so a token never goes back. */
  sequence: string;
  /** The index the clean-up of expired rows walks. */
  index: string;
  /** The unqualified index name, as CREATE INDEX takes it. */
  indexName: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;

/** Checks and quotes `table` (`name` or `schema.name`, letters, digits and `_`). */
export function schemaNames(table: string = DEFAULT_TABLE): SchemaNames {
  const parts = typeof table === 'string' ? table.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_OPTION',
      `PostgresStore's table must be a name or schema.name of letters, digits and _ (at most 41 each), not ${JSON.stringify(table)}`,
    );
  }
  const name = parts[parts.length - 1] as string;
  const prefix = parts.length === 2 ? `"${parts[0] as string}".` : '';
  return {
    table: `${prefix}"${name}"`,
    sequence: `${prefix}"${name}_fencing_token"`,
    index: `${prefix}"${name}_expires_at"`,
    indexName: `"${name}_expires_at"`,
  };
}

/**
 * The SQL that creates what `PostgresStore` needs, idempotently (`IF NOT EXISTS`): the table, the
 * sequence of fencing tokens, and an index on expiry for the clean-up. Run it with your migration
 * tool, or let `ensureSchema()` run it.
 *
 * @example
 * ```ts
 * // a Knex migration
 * export const up = (knex) => knex.raw(postgresMigration());
 * ```
 */
export function postgresMigration(options: { table?: string } = {}): string {
  const names = schemaNames(options.table);
  return `CREATE SEQUENCE IF NOT EXISTS ${names.sequence};
-- Tokens start near the clock in microseconds, as on every Tollgate store, so a token issued here
-- is greater than one issued before by another store (a move from Redis); never moved back. Set
-- only when the clock is past it: takes may run meanwhile, and a last_value read here is stale by
-- the time setval runs, so setting it again would hand out its following tokens a second time.
SELECT setval('${names.sequence}', clock.micros)
  FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS micros) clock
 WHERE clock.micros > (SELECT last_value FROM ${names.sequence});
CREATE TABLE IF NOT EXISTS ${names.table} (
  key           text PRIMARY KEY,
  -- in-progress | lock | committed | completed | unstorable
  state         text NOT NULL,
  owner         text NOT NULL,
  fingerprint   text NOT NULL,
  fencing_token bigint NOT NULL,
  -- the lease's or lock's end, or the end of the result's retention; the database's clock
  expires_at    timestamptz NOT NULL,
  status        integer,
  -- [[name, value], ...] as JSON text
  headers       text,
  body          bytea,
  -- a result committed in the handler's transaction, as JSON text
  result        text,
  reason        text
);
CREATE INDEX IF NOT EXISTS ${names.indexName} ON ${names.table} (expires_at);
`;
}
