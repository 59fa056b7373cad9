import type { SchemaNames } from './schema.js';

/**
 * Every statement the store sends, built once per table. Each decision is one statement, so it is
 * atomic on its own; times are the database's `clock_timestamp()`, never `now()` (frozen for the
 * length of a transaction) and never the app's clock. Durations are passed in milliseconds.
 */
export interface Statements {
  begin: string;
  lock: string;
  complete: string;
  recordState: string;
  markUnstorable: string;
  release: string;
  renew: string;
  record: string;
  purge: string;
  probe: string;
}

const MS = "* interval '1 millisecond'";
/** Columns a finished or held row is read with, and the ms left before it expires. */
const HELD_COLUMNS = `r.state, r.owner, r.fingerprint, r.fencing_token, r.status, r.headers, r.body, r.result, r.reason,
  ceil(extract(epoch FROM (r.expires_at - clock_timestamp())) * 1000)::bigint AS remaining_ms`;
/** The same columns, empty: in a UNION the first branch names them. */
const NO_HELD_COLUMNS = `NULL::text AS state, NULL::text AS owner, NULL::text AS fingerprint,
  NULL::bigint AS fencing_token, NULL::integer AS status, NULL::text AS headers, NULL::bytea AS body,
  NULL::text AS result, NULL::text AS reason, NULL::bigint AS remaining_ms`;

export function statements({ table, sequence }: SchemaNames): Statements {
  /**
   * A take: a new row, or an expired one taken over, in one INSERT ... ON CONFLICT. Otherwise the
   * row as it stood when the statement began (the caller retries a row it sees expired: one taken
   * over meanwhile by a concurrent take).
   */
  const take = (state: 'in-progress' | 'lock', fingerprint: string, durationParam: string) => `
WITH taken AS (
  INSERT INTO ${table} AS r (key, state, owner, fingerprint, fencing_token, expires_at)
  VALUES ($1, '${state}', $2, ${fingerprint}, nextval('${sequence.replace(/'/g, "''")}'),
          clock_timestamp() + ${durationParam} ${MS})
  ON CONFLICT (key) DO UPDATE SET
    state = excluded.state, owner = excluded.owner, fingerprint = excluded.fingerprint,
    fencing_token = excluded.fencing_token, expires_at = excluded.expires_at,
    status = NULL, headers = NULL, body = NULL, result = NULL, reason = NULL
  WHERE r.expires_at <= clock_timestamp()
  RETURNING fencing_token
)
SELECT 'acquired' AS found, taken.fencing_token AS taken_token, ${NO_HELD_COLUMNS} FROM taken
UNION ALL
SELECT 'held', NULL::bigint, ${HELD_COLUMNS}
  FROM ${table} r WHERE r.key = $1 AND NOT EXISTS (SELECT 1 FROM taken)`;

  const live = 'expires_at > clock_timestamp()';
  return {
    begin: take('in-progress', '$3', '$4::bigint'),
    lock: take('lock', "''", '$3::bigint'),
    // The owner's lease, or its own committed result, becomes the response; a re-sent
    // completion finds it already done.
    complete: `
WITH done AS (
  UPDATE ${table} SET state = 'completed', status = $3, headers = $4, body = $5, result = NULL,
    expires_at = clock_timestamp() + $6::bigint ${MS}
  WHERE key = $1 AND owner = $2 AND state IN ('in-progress', 'committed') AND ${live}
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM done)
    OR EXISTS (SELECT 1 FROM ${table} WHERE key = $1 AND owner = $2 AND state = 'completed' AND ${live}) AS ok`,
    // A request that recorded in a transaction: its row's state once that transaction has ended
    // (FOR UPDATE waits for it, then reads the row as it left it).
    recordState: `SELECT state FROM ${table} WHERE key = $1 AND owner = $2 AND ${live} FOR UPDATE`,
    // A committed result is kept rather than replaced by "could not be stored": it replays.
    markUnstorable: `
WITH done AS (
  UPDATE ${table} SET state = 'unstorable', reason = $3,
    expires_at = clock_timestamp() + $4::bigint ${MS}
  WHERE key = $1 AND owner = $2 AND state = 'in-progress' AND ${live}
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM done)
    OR EXISTS (SELECT 1 FROM ${table} WHERE key = $1 AND owner = $2
               AND state IN ('unstorable', 'committed') AND ${live}) AS ok`,
    release: `DELETE FROM ${table}
WHERE key = $1 AND owner = $2 AND state IN ('in-progress', 'lock') AND ${live} RETURNING 1`,
    // A committed row is the owner's until its response replaces it: renewing it keeps the
    // holder's lease confirmed, and changes nothing.
    renew: `UPDATE ${table}
SET expires_at = CASE WHEN state = 'committed' THEN expires_at ELSE clock_timestamp() + $3::bigint ${MS} END
WHERE key = $1 AND owner = $2 AND state IN ('in-progress', 'lock', 'committed') AND ${live} RETURNING 1`,
    // Inside the application's transaction: row-locks the key until it commits or rolls back.
    record: `UPDATE ${table} SET state = 'committed', status = $3, headers = $4, result = $5,
  expires_at = clock_timestamp() + $6::bigint ${MS}
WHERE key = $1 AND owner = $2 AND state = 'in-progress' AND ${live} RETURNING 1`,
    // A bounded batch; rows a take holds are skipped, and re-checked once locked.
    purge: `DELETE FROM ${table} WHERE key IN (
  SELECT key FROM ${table} WHERE expires_at <= clock_timestamp()
  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
) AND expires_at <= clock_timestamp()`,
    probe: `SELECT 1 FROM ${table} LIMIT 0`,
  };
}
