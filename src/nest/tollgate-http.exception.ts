import type { ServerResponse } from 'node:http';

import { HttpException, type HttpServer } from '@nestjs/common';

import { withoutStack, type TollgateHttpError } from '../core/errors.js';
import { problemResponse } from '../core/problem-response.js';

/**
 * A Tollgate rejection on its way through Nest's exception layer. Its response body is the
 * problem+json document; the adapter has already set `Content-Type: application/problem+json` and
 * the error's headers (`Retry-After`, `RateLimit`, ...) on the response, which Nest's default
 * filter keeps. A custom catch-all filter can send `getResponse()` and `headers` as they are.
 */
export class TollgateHttpException extends HttpException {
  readonly error: TollgateHttpError;

  constructor(error: TollgateHttpError) {
    const { problem, status } = problemResponse(error);
    super(problem, status, { cause: error, description: error.title });
    this.error = error;
  }

  /** The headers that belong with this response, e.g. `Retry-After`. */
  get headers(): Readonly<Record<string, string>> {
    return this.error.headers;
  }
}

/**
 * `error` as Nest's exception layer carries it, with its headers (and problem+json Content-Type)
 * set on the response through the platform's adapter first: Nest's default filter writes the
 * status and body but keeps every header already set, and keeps a `+json` Content-Type.
 */
export function problemException(
  adapter: HttpServer,
  response: unknown,
  error: TollgateHttpError,
): TollgateHttpException {
  // Express's response is the Node response, and Express's `set` only adds a charset to a
  // Content-Type: every other header goes straight on, as `set` would put it (a 429 carries
  // three). Fastify's reply keeps headers of its own, so there the adapter sets them all.
  const node = nodeResponseOf(response);
  for (const [name, value] of problemResponse(error).headers) {
    if (node !== undefined && name !== 'Content-Type') node.setHeader(name, value);
    else adapter.setHeader(response, name, value);
  }
  // Nest's exception only carries the error on to its filters: its own trace would say nothing.
  return withoutStack(() => new TollgateHttpException(error));
}

/** Express's response, which is the Node response itself; `undefined` for Fastify's reply. */
function nodeResponseOf(response: unknown): ServerResponse | undefined {
  const candidate = response as { raw?: unknown; setHeader?: unknown };
  return candidate.raw === undefined && typeof candidate.setHeader === 'function'
    ? (response as ServerResponse)
    : undefined;
}
