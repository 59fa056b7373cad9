import type { FencingToken, StoredResponse, UnstorableReason } from '../../core/store.js';

/**
 * What one record costs beyond the characters and bytes it stores: the record object, its map
 * entry, its slot in the write-order queue, and the headers of its strings and arrays. An estimate
 * on the low side for small records, whose number `maxKeys` bounds; for large bodies, which
 * `maxBytes` is there for, the body's own length dominates and is counted exactly.
 */
const RECORD_OVERHEAD_BYTES = 256;

/** One key's record in a `MemoryStore`. */
export type IdempotencyRecord =
  | {
      kind: 'in-progress';
      owner: string;
      fingerprint: string;
      expiresAt: number;
      fencingToken: FencingToken;
    }
  | {
      kind: 'completed';
      owner: string;
      fingerprint: string;
      expiresAt: number;
      response: StoredResponse;
    }
  | {
      kind: 'unstorable';
      owner: string;
      fingerprint: string;
      expiresAt: number;
      reason: UnstorableReason;
    }
  | { kind: 'lock'; owner: string; expiresAt: number; fencingToken: FencingToken };

/** The bytes `maxBytes` counts for one record (see `MemoryStoreOptions.maxBytes`). */
export function recordBytes(key: string, record: IdempotencyRecord): number {
  let bytes = RECORD_OVERHEAD_BYTES + key.length + record.owner.length;
  if (record.kind === 'lock') return bytes;
  bytes += record.fingerprint.length;
  if (record.kind !== 'completed') return bytes;
  bytes += record.response.body.byteLength;
  for (const [name, value] of record.response.headers) bytes += name.length + value.length;
  return bytes;
}

/** Stored bodies are copied so a caller that reuses its buffer cannot change a stored response. */
export function copyResponse(response: StoredResponse): StoredResponse {
  return {
    status: response.status,
    headers: response.headers.map(([name, value]) => [name, value] as const),
    body: new Uint8Array(response.body),
  };
}
