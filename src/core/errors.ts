/**
 * Every error Tollgate raises has a stable `code`. Errors that become HTTP responses also carry a
 * stable problem `type` (RFC 9457), documented in docs/idempotency.md, so clients can branch on it.
 */

/** Where the problem `type` URIs point; each fragment is documented in docs/idempotency.md. */
export const PROBLEM_TYPE_BASE = 'https://tollgate.dev/problems/';

export type ProblemSlug =
  | 'idempotency-key-missing'
  | 'idempotency-key-invalid'
  | 'idempotency-key-reused'
  | 'request-in-progress'
  | 'duplicate-request'
  | 'response-not-replayable'
  | 'request-invalid'
  | 'body-not-readable'
  | 'store-unavailable'
  | 'scope-unresolved'
  | 'lease-lost'
  | 'rate-limited'
  | 'address-denied';

/** The body of an `application/problem+json` response. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** A rejection that the adapters turn into a problem+json response with these headers. */
export class TollgateHttpError extends Error {
  readonly code: string;
  readonly status: number;
  readonly type: string;
  readonly title: string;
  /** Extra response headers, e.g. `Retry-After`. */
  readonly headers: Readonly<Record<string, string>>;
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(init: {
    code: string;
    status: number;
    slug: ProblemSlug;
    title: string;
    detail: string;
    headers?: Record<string, string>;
    extensions?: Record<string, unknown>;
    cause?: unknown;
  }) {
    super(init.detail, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'TollgateHttpError';
    this.code = init.code;
    this.status = init.status;
    this.type = PROBLEM_TYPE_BASE + init.slug;
    this.title = init.title;
    this.headers = init.headers ?? {};
    this.extensions = init.extensions ?? {};
  }

  toProblem(): ProblemDetails {
    return {
      ...this.extensions,
      type: this.type,
      title: this.title,
      status: this.status,
      detail: this.message,
    };
  }
}

/** A mistake in the options given to Tollgate, found once at start-up. The message says what to change. */
export class TollgateConfigError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${message} [${code}]`);
    this.name = 'TollgateConfigError';
    this.code = code;
  }
}

/** The store did not answer in time or failed; the route's store-failure policy decides what follows. */
export class StoreUnavailableError extends Error {
  readonly code = 'TOLLGATE_STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** Turns whatever was thrown into an `Error`, so nothing non-`Error` is ever rethrown or rejected. */
export function toError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}

/**
 * 503: the store did not answer, so the request was not run. One problem for idempotency and rate
 * limiting alike: `what` names the protection that is down.
 */
export function storeUnavailableProblem(
  what: 'Duplicate protection' | 'Rate limiting',
  extensions?: Record<string, unknown>,
): TollgateHttpError {
  return new TollgateHttpError({
    code: 'TOLLGATE_STORE_UNAVAILABLE',
    status: 503,
    slug: 'store-unavailable',
    title: 'Service temporarily unavailable',
    detail: `${what} is temporarily unavailable, so the request was not run. Retry after the time in Retry-After.`,
    headers: { 'Retry-After': '1' },
    ...(extensions === undefined ? {} : { extensions }),
  });
}

/** `Retry-After` in whole seconds, never earlier than `ms` from now, and at least 1. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
