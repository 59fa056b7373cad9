import { HttpException, type HttpServer } from '@nestjs/common';

import { withoutStack, type TollgateHttpError } from '../core/errors.js';
import { forEachProblemHeader, problemResponse } from '../core/problem-response.js';
import { setPlatformHeader } from './http-context.js';

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
  forEachProblemHeader(error, (name, value) => setPlatformHeader(adapter, response, name, value));
  // Nest's exception only carries the error on to its filters: its own trace would say nothing.
  return withoutStack(() => new TollgateHttpException(error));
}
