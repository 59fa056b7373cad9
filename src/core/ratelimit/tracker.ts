import { clientAddress, groupAddress } from '../addresses.js';
import type { RateLimitRequest, ThrottlePolicy } from './options.js';

/**
 * Who a request is counted as: a custom tracker's answer, else the authenticated principal, else
 * the client address. Each kind has its own prefix, so a user named `10.0.0.1` is never counted
 * together with the address 10.0.0.1.
 */
export function resolveTracker(
  request: RateLimitRequest,
  policy: Pick<ThrottlePolicy, 'tracker' | 'trustProxy' | 'ipv4Prefix' | 'ipv6Prefix'>,
): string | Promise<string> {
  if (policy.tracker) return resolveCustomTracker(request, policy);
  return builtInTracker(request, policy);
}

async function resolveCustomTracker(
  request: RateLimitRequest,
  policy: Pick<ThrottlePolicy, 'tracker' | 'trustProxy' | 'ipv4Prefix' | 'ipv6Prefix'>,
): Promise<string> {
  const custom = await policy.tracker?.(request);
  if (custom !== undefined) return `custom:${custom}`;
  return builtInTracker(request, policy);
}

/** The principal, else the client's address: no await on the common path. */
function builtInTracker(
  request: RateLimitRequest,
  policy: Pick<ThrottlePolicy, 'trustProxy' | 'ipv4Prefix' | 'ipv6Prefix'>,
): string {
  if (request.principal !== undefined) return `principal:${request.principal}`;
  const address = requestAddress(request, policy.trustProxy);
  if (address === undefined) return 'address:unknown';
  return `address:${groupAddress(address, policy.ipv4Prefix, policy.ipv6Prefix)}`;
}

/**
 * The client's address under the route's proxy trust: the framework's own reading (Express's
 * `trust proxy` setting, Fastify's `trustProxy`), or Tollgate's from `X-Forwarded-For`.
 */
export function requestAddress(
  request: RateLimitRequest,
  trust: ThrottlePolicy['trustProxy'],
): string | undefined {
  if (trust === 'framework') return request.frameworkAddress?.() ?? request.remoteAddress;
  return clientAddress(request.remoteAddress, request.header('x-forwarded-for'), trust);
}

/** Whether the request's `User-Agent` matches one of the patterns (crawlers the route lets pass). */
export function ignoredUserAgent(request: RateLimitRequest, patterns: readonly RegExp[]): boolean {
  const agent = request.header('user-agent');
  if (typeof agent !== 'string') return false;
  return patterns.some((pattern) => {
    // A global or sticky pattern keeps its position between tests: start from the beginning.
    pattern.lastIndex = 0;
    return pattern.test(agent);
  });
}
