import type { ServerResponse } from 'node:http';

import type { TollgateHttpError } from '../core/errors.js';
import { REPLAYED_HEADER } from '../core/idempotency/engine.js';
import type { StoredResponse } from '../core/store.js';
import { problemResponse } from './problem.js';

/**
 * Writers for adapters that answer on the Node.js response directly (plain Express), rather than
 * by returning a value to a framework that serializes it (Nest). They throw if a response was
 * already started, so the adapter can hand that mistake to the framework's error handling.
 */

/** Statuses that never carry a body (RFC 9110): no body and no Content-Length is written for them. */
const BODYLESS_STATUSES: ReadonlySet<number> = new Set([204, 304]);

/** Sends a stored response exactly: its status, its allow-listed headers, its body bytes. */
export function sendReplay(res: ServerResponse, stored: StoredResponse): void {
  res.statusCode = stored.status;
  for (const [name, value] of stored.headers) res.setHeader(name, value);
  res.setHeader(REPLAYED_HEADER, 'true');
  if (BODYLESS_STATUSES.has(stored.status)) {
    res.end();
    return;
  }
  const body = Buffer.from(stored.body.buffer, stored.body.byteOffset, stored.body.byteLength);
  res.setHeader('Content-Length', body.byteLength);
  res.end(body);
}

/** Sends a rejection as problem+json (RFC 9457), with the headers it carries (e.g. `Retry-After`). */
export function sendProblem(res: ServerResponse, error: TollgateHttpError): void {
  const { status, headers, body } = problemResponse(error);
  res.statusCode = status;
  for (const [name, value] of headers) res.setHeader(name, value);
  res.setHeader('Content-Length', body.byteLength);
  res.end(body);
}
