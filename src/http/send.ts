import type { ServerResponse } from 'node:http';

import type { TollgateHttpError } from '../core/errors.js';
import { writeRejection, writeReplay, type ResponseWriter } from '../core/idempotency/respond.js';
import type { StoredResponse } from '../core/store.js';

/**
 * Writers for adapters that answer on the Node.js response directly (plain Express), rather than
 * by returning a value to a framework that serializes it (Nest). What a replay and a rejection
 * carry is the core's (`writeReplay`, `writeRejection`); here they are framed and sent. They throw
 * if a response was already started, so the adapter can hand that mistake to the framework's error
 * handling.
 */

/** A Node.js response as the core writes to it: one for the process. */
export const NODE_RESPONSE: ResponseWriter<ServerResponse> = {
  status(res, status) {
    res.statusCode = status;
  },
  setHeader(res, name, value) {
    res.setHeader(name, value);
  },
  sendsText: false,
};

/** Statuses that never carry a body (RFC 9110): no body and no Content-Length is written for them. */
const BODYLESS_STATUSES: ReadonlySet<number> = new Set([204, 304]);

/** Sends a stored response exactly: its status, its allow-listed headers, its body bytes. */
export function sendReplay(res: ServerResponse, stored: StoredResponse): void {
  writeReplay(NODE_RESPONSE, res, stored, false);
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
  const body = writeRejection(NODE_RESPONSE, res, error);
  res.setHeader('Content-Length', body.byteLength);
  res.end(body);
}
