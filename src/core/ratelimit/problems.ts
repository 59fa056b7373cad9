import {
  retryAfterSeconds,
  storeUnavailableProblem,
  TollgateHttpError,
  withoutStack,
} from '../errors.js';

/** The rejections of the rate-limit engine. */

/** 429: one or more named limits are exhausted. `headers` already holds the rate-limit fields. */
export const rateLimited = (
  limits: readonly string[],
  retryAfterMs: number,
  headers: Record<string, string>,
): TollgateHttpError => {
  const retryAfter = retryAfterSeconds(retryAfterMs);
  return withoutStack(
    () =>
      new TollgateHttpError({
        code: 'TOLLGATE_RATE_LIMITED',
        status: 429,
        slug: 'rate-limited',
        title: 'Too many requests',
        detail: `The rate limit ${limits.map((name) => `"${name}"`).join(', ')} is exhausted. Retry after ${retryAfter} second${retryAfter === '1' ? '' : 's'}.`,
        headers: { ...headers, 'Retry-After': retryAfter },
        // `violated-policies`: the member draft-ietf-httpapi-ratelimit-headers gives its problem type,
        // naming the policies of `RateLimit-Policy` that refused the request.
        extensions: { limits: [...limits], 'violated-policies': [...limits] },
      }),
  );
};

/** 503: a limit whose policy is `reject` could not be checked because the store did not answer. */
export const rateLimitStoreUnavailable = (limits: readonly string[]): TollgateHttpError =>
  storeUnavailableProblem('Rate limiting', { limits: [...limits] });

/** 403: the client address is on the route's deny list. Nothing was counted. */
export const addressDenied = (): TollgateHttpError =>
  new TollgateHttpError({
    code: 'TOLLGATE_ADDRESS_DENIED',
    status: 403,
    slug: 'address-denied',
    title: 'Address denied',
    detail: 'Requests from this address are not accepted.',
  });
