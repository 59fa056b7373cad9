import { isUtf8 } from 'node:buffer';

import type { BeginResult, StoredResponse, UnstorableReason } from '../../core/store.js';

const NEWLINE = 0x0a;
const IN_PROGRESS = 0x70; // 'p'
const COMPLETED = 0x63; // 'c'

/** Larger bodies stay bytes: decoding and encoding them again would cost more than a copy. */
const STRING_BODY_MAX_BYTES = 16 * 1024;

// The reply without data, shared rather than made per request.
const MISMATCH: BeginResult = Object.freeze({ state: 'mismatch' });

export function acquired(token: Buffer | number): BeginResult {
  return {
    state: 'acquired',
    fencingToken: typeof token === 'number' ? token : Number(token.toString('latin1')),
  };
}

/**
 * What the begin script found under a held key (the record formats are in scripts.ts), read here
 * rather than inside the script; `remainingMs` is the key's time to live as the script saw it.
 */
export function readHeldRecord(
  key: string,
  held: Buffer,
  remainingMs: number,
  owner: string,
  fingerprint: string,
): BeginResult {
  const ownerEnd = held.indexOf(NEWLINE, 2);
  const fingerprintEnd = held.indexOf(NEWLINE, ownerEnd + 1);
  const tokenEnd = held.indexOf(NEWLINE, fingerprintEnd + 1);
  if (ownerEnd < 0 || fingerprintEnd < 0 || tokenEnd < 0) {
    // A lock under an idempotency key cannot happen (their keys differ); anything else is not ours.
    throw new Error(`unexpected idempotency record under ${key}`);
  }
  // The same key with another request behind it: report it without revealing anything stored.
  if (held.toString('latin1', ownerEnd + 1, fingerprintEnd) !== fingerprint) return MISMATCH;
  switch (held[0]) {
    case IN_PROGRESS:
      // Our own lease (this call was re-sent): still ours, with the token it was taken with.
      return held.toString('latin1', 2, ownerEnd) === owner
        ? acquired(held.subarray(fingerprintEnd + 1, tokenEnd))
        : { state: 'in-progress', retryAfterMs: Math.max(0, remainingMs) };
    case COMPLETED: {
      const statusEnd = held.indexOf(NEWLINE, tokenEnd + 1);
      const headersEnd = held.indexOf(NEWLINE, statusEnd + 1);
      return {
        state: 'completed',
        response: {
          status: Number(held.toString('latin1', tokenEnd + 1, statusEnd)),
          headers: JSON.parse(held.toString('utf8', statusEnd + 1, headersEnd)) as Array<
            [string, string]
          >,
          body: held.subarray(headersEnd + 1),
        },
        retainedMs: Math.max(0, remainingMs),
      };
    }
    default:
      return {
        state: 'unstorable',
        reason: held.toString('latin1', tokenEnd + 1) as UnstorableReason,
      };
  }
}

/**
 * The completed record's fields after the fingerprint: `<status>\n<headers JSON>\n<body>`. A body
 * of UTF-8 text (what JSON handlers send) goes as part of one string: ioredis then writes the whole
 * command as one string, where a Buffer argument switches it to assembling a Buffer from pieces.
 * The bytes stored are the same, since valid UTF-8 decodes and encodes back unchanged.
 */
export function recordTail(response: StoredResponse): string | Buffer {
  const head = `${response.status}\n${JSON.stringify(response.headers)}\n`;
  const body = Buffer.from(
    response.body.buffer,
    response.body.byteOffset,
    response.body.byteLength,
  );
  if (body.byteLength <= STRING_BODY_MAX_BYTES && isUtf8(body)) return head + body.toString('utf8');
  return Buffer.concat([Buffer.from(head), body]);
}
