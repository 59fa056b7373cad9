/**
 * Every error Tollgate raises has a stable `code`. Errors that become HTTP responses also carry a
 * stable problem `type` (RFC 9457), documented in the README, so clients can branch on it.
 */
/** Where the problem `type` URIs point; each fragment is documented in the README. */
export declare const PROBLEM_TYPE_BASE = "https://tollgate.dev/problems/";
export type ProblemSlug = 'idempotency-key-missing' | 'idempotency-key-invalid' | 'idempotency-key-reused' | 'request-in-progress' | 'duplicate-request' | 'response-not-replayable' | 'request-invalid' | 'body-not-readable' | 'store-unavailable' | 'rate-limited';
/** The body of an `application/problem+json` response. */
export interface ProblemDetails {
    type: string;
    title: string;
    status: number;
    detail: string;
    [extension: string]: unknown;
}
export declare const PROBLEM_CONTENT_TYPE = "application/problem+json";
/** A rejection that the adapters turn into a problem+json response with these headers. */
export declare class TollgateHttpError extends Error {
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
    });
    toProblem(): ProblemDetails;
}
/** A mistake in the options given to Tollgate, found once at start-up. The message says what to change. */
export declare class TollgateConfigError extends Error {
    readonly code: string;
    constructor(code: string, message: string);
}
/** The store did not answer in time or failed; the route's store-failure policy decides what follows. */
export declare class StoreUnavailableError extends Error {
    readonly code = "TOLLGATE_STORE_UNAVAILABLE";
    constructor(message: string, options?: {
        cause?: unknown;
    });
}
/** Turns whatever was thrown into an `Error`, so nothing non-`Error` is ever rethrown or rejected. */
export declare function toError(thrown: unknown): Error;
/** `Retry-After` in whole seconds, never earlier than `ms` from now, and at least 1. */
export declare function retryAfterSeconds(ms: number): string;
//# sourceMappingURL=errors.d.ts.map