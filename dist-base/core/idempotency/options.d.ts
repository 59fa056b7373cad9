import { type Duration } from '../duration.js';
export type IdempotencyStrategy = 'key' | 'fingerprint' | 'lock';
/** What a request does when the store cannot be reached in time. */
export type StoreUnavailablePolicy = 'reject' | 'allow';
/** What happens to the key once the handler finished with this status. */
export type Outcome = 'store' | 'release';
/** Options of `@Idempotent()` / `idempotent()`, also accepted as module-wide defaults. */
export interface IdempotencyOptions {
    /** `key` (client's Idempotency-Key, default), `fingerprint` (hash of the request) or `lock` (409 until expiry). */
    strategy?: IdempotencyStrategy;
    /** A `key` route answers 400 without the header. Default: true on decorated routes, false for global protection. */
    required?: boolean;
    /** The header the client sends its key in. Default `Idempotency-Key`. */
    headerName?: string;
    /** How long a `key` result is kept and replayed. Default `'24h'`. */
    retention?: Duration;
    /** How long a `fingerprint` result is replayed, or a `lock` holds. Default `'5s'`. */
    window?: Duration;
    /** The in-progress lease: how long a crashed request blocks retries at most. Renewed while the handler runs. Default `'30s'`. */
    lease?: Duration;
    /** Where `lock` takes its key from: the header when sent (`auto`, default), always the `header`, or always the `fingerprint`. */
    lockKey?: 'auto' | 'header' | 'fingerprint';
    /** Instead of a 409, a duplicate of a running request waits up to this long and replays its result. Default off. */
    waitForInFlight?: Duration | false;
    /** Responses larger than this pass through but are not stored; duplicates then get a 409. Default 1 MiB. */
    maxResponseBytes?: number;
    /** Response headers replayed besides the default allow-list (Content-Type, Location, ETag, ...). */
    replayHeaders?: readonly string[];
    /** Request headers that are part of the request's identity (its fingerprint). Default none. */
    fingerprintHeaders?: readonly string[];
    /** Query fields that are part of the request's identity (its fingerprint). Default none. */
    fingerprintQuery?: readonly string[];
    /** `reject` (503 with Retry-After, default) or `allow` (run unprotected and report it). */
    onStoreUnavailable?: StoreUnavailablePolicy;
    /** Hard deadline for each store call on the request path. Default `'1s'`. */
    storeTimeout?: Duration;
    /** Decides per status whether a result is kept for replay or the key released. Default: see `defaultOutcome`. */
    outcome?: (status: number) => Outcome;
}
/** The validated, defaulted form of `IdempotencyOptions`, built once per route at start-up. */
export interface IdempotencyPolicy {
    strategy: IdempotencyStrategy;
    required: boolean;
    headerName: string;
    retentionMs: number;
    windowMs: number;
    leaseMs: number;
    lockKey: 'auto' | 'header' | 'fingerprint';
    waitForInFlightMs: number;
    maxResponseBytes: number;
    /** Lower-case names of the headers a replay carries. */
    replayHeaders: ReadonlySet<string>;
    fingerprintHeaders: readonly string[];
    fingerprintQuery: readonly string[];
    onStoreUnavailable: StoreUnavailablePolicy;
    storeTimeoutMs: number;
    outcome: (status: number) => Outcome;
}
export declare const DEFAULT_REPLAY_HEADERS: readonly ["content-type", "content-language", "location", "etag", "last-modified", "cache-control"];
/** Never replayed, even if a route lists them: they belong to one client or one moment. */
export declare const NEVER_REPLAYED_HEADERS: ReadonlySet<string>;
/**
 * The methods protected where no route asked for protection (a global interceptor, app-wide
 * middleware): the unsafe ones, as Stripe protects them. Safe methods change nothing
 * (RFC 9110, section 9.2.1).
 */
export declare const UNSAFE_METHODS: ReadonlySet<string>;
/**
 * 2xx, 3xx and 4xx results are stored and replayed, except 408, 409, 425 and 429; 5xx results
 * release the key so a retry runs again.
 */
export declare function defaultOutcome(status: number): Outcome;
/**
 * Merges route options over module defaults and validates them, once, at start-up. Errors name the
 * option and the fix, so a misconfiguration never waits for the first request to surface.
 */
export declare function resolveIdempotencyPolicy(route: IdempotencyOptions | undefined, defaults: IdempotencyOptions | undefined, context: {
    decorated: boolean;
}): IdempotencyPolicy;
//# sourceMappingURL=options.d.ts.map