import { PROBLEM_CONTENT_TYPE, type ProblemDetails, type TollgateHttpError } from './errors.js';

/** A rejection as it goes on the wire, whichever adapter writes it. */
export interface ProblemResponse {
  readonly status: number;
  /**
   * The error's own headers (`Retry-After`, `RateLimit`, ...), then `Content-Type:
   * application/problem+json`, in the order to set them. No `Content-Length`: whoever writes the
   * body frames it (Node's response when Tollgate writes it, the platform when Nest does).
   */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** The problem document (RFC 9457), for a layer that serializes it itself (Nest's exception filters). */
  readonly problem: ProblemDetails;
  /** The problem document serialized: the exact bytes to send. */
  readonly body: Buffer;
}

/**
 * The one definition of how a `TollgateHttpError` is answered. Every adapter writes what this
 * returns, so a rejection looks the same on Express, on Nest over Express or Fastify, from the
 * idempotency interceptor or the throttle guard.
 */
export function problemResponse(error: TollgateHttpError): ProblemResponse {
  const headers: Array<readonly [string, string]> = [];
  forEachProblemHeader(error, (name, value) => headers.push([name, value]));
  return new Problem(error.status, headers, error.toProblem());
}

/**
 * The headers of `error`'s response in the order to set them (`ProblemResponse.headers`), for a
 * layer that sets them and leaves the body to another (Nest's exception filters).
 */
export function forEachProblemHeader(
  error: TollgateHttpError,
  set: (name: string, value: string) => void,
): void {
  const headers = error.headers;
  for (const name in headers) set(name, headers[name] as string);
  // Last, so it wins over anything the error carries: the body is always problem+json.
  set('Content-Type', PROBLEM_CONTENT_TYPE);
}

class Problem implements ProblemResponse {
  private bytes: Buffer | undefined;

  constructor(
    readonly status: number,
    readonly headers: ReadonlyArray<readonly [string, string]>,
    readonly problem: ProblemDetails,
  ) {}

  // Serialized on first use: where Nest's exception layer writes the body, it never is.
  get body(): Buffer {
    return (this.bytes ??= Buffer.from(JSON.stringify(this.problem)));
  }
}
