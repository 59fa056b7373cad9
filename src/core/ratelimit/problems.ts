import { retryAfterSeconds, storeUnavailableProblem, TollgateHttpError } from '../errors.js';

/** The rejections of the rate-limit engine. */

/** 429: one or more named limits are exhausted. `headers` already holds the rate-limit fields. */
export const rateLimited = (
  limits: readonly string[],
  retryAfterMs: number,
  headers: Record<string, string>,
): TollgateHttpError => {
  const retryAfter = retryAfterSeconds(retryAfterMs);
  return new TollgateHttpError({
    code: 'TOLLGATE_RATE_LIMITED',
    status: 429,
    slug: 'rate-limited',
    title: 'Too many requests',
    detail: `The rate limit ${limits.map((name) => `"${name}"`).join(', ')} is exhausted. Retry after ${retryAfter} second${retryAfter === '1' ? '' : 's'}.`,
    headers: { ...headers, 'Retry-After': retryAfter },
    extensions: { limits: [...limits] },
  });
};

/** 503: a limit whose policy is `reject` could not be checked because the store did not answer. */
export const rateLimitStoreUnavailable = (limits: readonly string[]): TollgateHttpError =>
  storeUnavailableProblem('Rate limiting', { limits: [...limits] });
