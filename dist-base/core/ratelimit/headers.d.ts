import type { RateLimitState } from '../../stores/store.js';
/**
 * The header fields of draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` states each quota
 * (`q` units per `w` seconds), `RateLimit` its current state (`r` units remaining, `t` seconds
 * until the quota is whole again). Both are structured-field lists (RFC 8941) with one member per
 * named limit, keyed by the limit's name as an sf-string.
 */
export declare const RATE_LIMIT_POLICY_HEADER = "RateLimit-Policy";
export declare const RATE_LIMIT_HEADER = "RateLimit";
/** `"burst";q=3;w=1, "daily";q=1000;w=86400` */
export declare function policyHeaderValue(limits: ReadonlyArray<{
    name: string;
    limit: number;
    windowMs: number;
}>): string;
/** `"burst";r=0;t=1, "daily";r=997;t=86400` */
export declare function rateLimitHeaderValue(states: readonly RateLimitState[]): string;
//# sourceMappingURL=headers.d.ts.map