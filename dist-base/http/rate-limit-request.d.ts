import type { RateLimitRequest } from '../core/ratelimit/options.js';
import type { HttpRequestLike, ScopeResolver } from './request.js';
/** What the rate limiter reads besides what every adapter already describes: the TCP peer. */
export interface RateLimitHttpRequestLike extends HttpRequestLike {
    /** Express's and Fastify's requests both expose the Node.js socket here. */
    socket?: {
        remoteAddress?: string | undefined;
    } | undefined;
}
/**
 * Describes a request to the rate-limit engine; the adapter supplies what only it knows (the route
 * template). The principal comes from the same resolver idempotency scopes keys with, so one
 * setting decides "who is asking" for both.
 */
export declare function describeRateLimitRequest(request: RateLimitHttpRequestLike, route: string, resolveScope: ScopeResolver): RateLimitRequest;
//# sourceMappingURL=rate-limit-request.d.ts.map