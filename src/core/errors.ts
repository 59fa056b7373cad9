/**
 * Every error Tollgate raises has a stable `code`, and every code has a page under `docs/errors/`.
 * Errors that become HTTP responses also carry a stable problem `type` (RFC 9457) whose URI is the
 * page for it under `docs/problems/`, so a client can branch on it and a person can follow it.
 */

/**
 * The published package's documentation. The package ships `docs/`, so every page these URIs name
 * is also in `node_modules/tollgate/docs/`.
 */
export const DOCS_BASE = 'https://unpkg.com/tollgate/docs/';

/** Where the problem `type` URIs point: `<base><slug>.md` is the page for that problem. */
export const PROBLEM_TYPE_BASE = `${DOCS_BASE}problems/`;

/** The problem `type` URI for a slug. */
export function problemType(slug: ProblemSlug): string {
  return `${PROBLEM_TYPE_BASE}${slug}.md`;
}

/** The page that explains an error code and its fix. */
export function errorPage(code: TollgateErrorCode): string {
  return `${DOCS_BASE}errors/${code}.md`;
}

export const PROBLEM_CODES = [
  'TOLLGATE_KEY_MISSING',
  'TOLLGATE_KEY_INVALID',
  'TOLLGATE_KEY_REUSED',
  'TOLLGATE_IN_PROGRESS',
  'TOLLGATE_DUPLICATE',
  'TOLLGATE_NOT_REPLAYABLE',
  'TOLLGATE_BODY_TOO_DEEP',
  'TOLLGATE_BODY_NOT_READABLE',
  'TOLLGATE_STORE_UNAVAILABLE',
  'TOLLGATE_SCOPE_UNRESOLVED',
  'TOLLGATE_LEASE_LOST',
  'TOLLGATE_RATE_LIMITED',
  'TOLLGATE_ADDRESS_DENIED',
] as const;
/** Codes carried by the errors that become problem+json responses (`TollgateHttpError`). */
export type TollgateProblemCode = (typeof PROBLEM_CODES)[number];

export const CONFIG_CODES = [
  'TOLLGATE_ADMIN_NEEDS_REQUEST',
  'TOLLGATE_EXCLUSIVE_WITHOUT_MODULE',
  'TOLLGATE_INCOMPLETE_LIMIT',
  'TOLLGATE_INVALID_ADDRESS_LIST',
  'TOLLGATE_INVALID_ALGORITHM',
  'TOLLGATE_INVALID_ANONYMOUS_SCOPE',
  'TOLLGATE_INVALID_BOOLEAN_OPTION',
  'TOLLGATE_INVALID_CLIENT',
  'TOLLGATE_INVALID_CONSUMER',
  'TOLLGATE_INVALID_COST',
  'TOLLGATE_INVALID_DURATION',
  'TOLLGATE_INVALID_EXCLUSIVE',
  'TOLLGATE_INVALID_HEADERS_MODE',
  'TOLLGATE_INVALID_HEADER_NAME',
  'TOLLGATE_INVALID_IGNORE_USER_AGENTS',
  'TOLLGATE_INVALID_IP_PREFIX',
  'TOLLGATE_INVALID_LEASE_NAME',
  'TOLLGATE_INVALID_LIMIT',
  'TOLLGATE_INVALID_LIMITS',
  'TOLLGATE_INVALID_LIMIT_NAME',
  'TOLLGATE_INVALID_LOCAL_MAX_KEYS',
  'TOLLGATE_INVALID_LOCK_KEY',
  'TOLLGATE_INVALID_MAX_RESPONSE_BYTES',
  'TOLLGATE_INVALID_MEMORY_BOUND',
  'TOLLGATE_INVALID_MESSAGE_OPTION',
  'TOLLGATE_INVALID_NAMESPACE',
  'TOLLGATE_INVALID_OPTION',
  'TOLLGATE_INVALID_RENEW_EVERY',
  'TOLLGATE_INVALID_SKIP_THROTTLE',
  'TOLLGATE_INVALID_STORE_POLICY',
  'TOLLGATE_INVALID_STRATEGY',
  'TOLLGATE_INVALID_THROTTLE_FUNCTION',
  'TOLLGATE_INVALID_TRUST_PROXY',
  'TOLLGATE_INVALID_UNITS',
  'TOLLGATE_MODULE_MISSING',
  'TOLLGATE_NOT_THROTTLED',
  'TOLLGATE_NOT_TOLLGATE_MIDDLEWARE',
  'TOLLGATE_QUORUM_TOO_SMALL',
  'TOLLGATE_STORE_CANNOT_ADJUST',
  'TOLLGATE_STORE_CANNOT_INVALIDATE',
  'TOLLGATE_STORE_CANNOT_RAISE_TOKEN',
  'TOLLGATE_STORE_CANNOT_RATE_LIMIT',
  'TOLLGATE_THROTTLE_NOT_HTTP',
  'TOLLGATE_TRANSACTION_UNAVAILABLE',
  'TOLLGATE_UNKNOWN_ROUTE',
  'TOLLGATE_UNKNOWN_TRANSACTION',
  'TOLLGATE_UNSAFE_REPLAY_HEADER',
] as const;
/** Codes carried by `TollgateConfigError`: a mistake in the options, found at start-up. */
export type TollgateConfigCode = (typeof CONFIG_CODES)[number];

/** Every code a Tollgate error can carry. Each has a page: `errorPage(code)`. */
export type TollgateErrorCode = TollgateProblemCode | TollgateConfigCode;

/** The problems Tollgate answers with; each has its page (`problemType(slug)`). */
export const PROBLEM_SLUGS = [
  'idempotency-key-missing',
  'idempotency-key-invalid',
  'idempotency-key-reused',
  'request-in-progress',
  'duplicate-request',
  'response-not-replayable',
  'request-invalid',
  'body-not-readable',
  'store-unavailable',
  'scope-unresolved',
  'lease-lost',
  'rate-limited',
  'address-denied',
] as const;
export type ProblemSlug = (typeof PROBLEM_SLUGS)[number];

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
  readonly code: TollgateProblemCode;
  readonly status: number;
  readonly type: string;
  readonly title: string;
  /** Extra response headers, e.g. `Retry-After`. */
  readonly headers: Readonly<Record<string, string>>;
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(init: {
    code: TollgateProblemCode;
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
    this.type = problemType(init.slug);
    this.title = init.title;
    this.headers = init.headers ?? {};
    this.extensions = init.extensions ?? {};
  }

  toProblem(): ProblemDetails {
    // The extensions first, then the standard members (which win, keeping an extension's place if
    // it has one of their names), as a spread would give them. Copied key by key: V8 builds
    // `{ ...extensions, type, ... }` as a slow dictionary object, on a path every rejection takes,
    // and the exception layer then serializes it slowly too.
    const problem: Record<string, unknown> = {};
    const extensions = this.extensions;
    for (const name of Object.keys(extensions)) problem[name] = extensions[name];
    problem.type = this.type;
    problem.title = this.title;
    problem.status = this.status;
    problem.detail = this.message;
    return problem as ProblemDetails;
  }
}

/**
 * Builds `make()` without capturing a stack trace: for an error that carries a decision (the 429
 * every refused request gets), whose trace says nothing and costs more than the rest of the answer.
 */
export function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * A mistake in the options given to Tollgate, found once at start-up. The message says what to
 * change and ends with the page that explains the code.
 */
export class TollgateConfigError extends Error {
  readonly code: TollgateConfigCode;
  constructor(code: TollgateConfigCode, message: string) {
    super(`${message} [${code}: ${errorPage(code)}]`);
    this.name = 'TollgateConfigError';
    this.code = code;
  }
}

/**
 * The store did not answer in time or failed; the route's store-failure policy decides what
 * follows. Its page: `errorPage('TOLLGATE_STORE_UNAVAILABLE')`.
 */
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
