import { retryAfterSeconds, TollgateHttpError } from '../errors.js';
/** The rejections of the rate-limit engine. */
/** 429: one or more named limits are exhausted. `headers` already holds the rate-limit fields. */
export const rateLimited = (limits, retryAfterMs, headers) => {
    const retryAfter = retryAfterSeconds(retryAfterMs);
    return new TollgateHttpError({
        code: 'TOLLGATE_RATE_LIMITED',
        status: 429,
        slug: 'rate-limited',
        title: 'Too many requests',
        detail: `The rate limit ${limits.map((name) => `"${name}"`).join(', ')} is exhausted. Retry after ${retryAfter} seconds.`,
        headers: { ...headers, 'Retry-After': retryAfter },
        extensions: { limits: [...limits] },
    });
};
/** 503: a limit whose policy is `reject` could not be checked because the store did not answer. */
export const rateLimitStoreUnavailable = (limits) => new TollgateHttpError({
    code: 'TOLLGATE_STORE_UNAVAILABLE',
    status: 503,
    slug: 'store-unavailable',
    title: 'Service temporarily unavailable',
    detail: 'Rate limiting is temporarily unavailable, so the request was not run. Retry after the time in Retry-After.',
    headers: { 'Retry-After': '1' },
    extensions: { limits: [...limits] },
});
//# sourceMappingURL=problems.js.map