import type { BeginResult, StoredResponse, UnstorableReason } from '../../core/store.js';

/** A row of a take's answer: `found` says whether the take succeeded or the row is someone's. */
export interface Row {
  found: 'acquired' | 'held';
  taken_token: string | null;
  state: string | null;
  owner: string | null;
  fingerprint: string | null;
  fencing_token: string | null;
  status: number | null;
  headers: string | null;
  body: Buffer | null;
  result: string | null;
  reason: string | null;
  remaining_ms: string | null;
}

/**
 * What `begin` reports for a row it could not take, or `undefined` for a row that had expired when
 * the statement began (taken over concurrently: the caller asks again).
 */
export function readHeld(row: Row, owner: string, fingerprint: string): BeginResult | undefined {
  const remainingMs = Number(row.remaining_ms);
  if (!(remainingMs > 0)) return undefined;
  if (row.state === 'lock') return { state: 'in-progress', retryAfterMs: remainingMs };
  if (row.fingerprint !== fingerprint) return { state: 'mismatch' };
  switch (row.state) {
    case 'in-progress':
      return row.owner === owner
        ? { state: 'acquired', fencingToken: Number(row.fencing_token) }
        : { state: 'in-progress', retryAfterMs: remainingMs };
    case 'completed':
      return { state: 'completed', response: storedResponse(row) };
    case 'committed':
      return {
        state: 'committed',
        result: {
          status: row.status ?? 200,
          headers: readHeaders(row.headers),
          json: row.result ?? undefined,
        },
      };
    case 'unstorable':
      return { state: 'unstorable', reason: row.reason as UnstorableReason };
    default:
      return undefined;
  }
}

function storedResponse(row: Row): StoredResponse {
  const body = row.body ?? Buffer.alloc(0);
  return {
    status: row.status ?? 200,
    headers: readHeaders(row.headers),
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
  };
}

function readHeaders(text: string | null): Array<readonly [string, string]> {
  if (text === null) return [];
  return JSON.parse(text) as Array<[string, string]>;
}
