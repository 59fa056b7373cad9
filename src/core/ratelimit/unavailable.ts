import type { StoreUnavailableError } from '../errors.js';
import type { RateLimitRule } from '../store.js';
import { chargeOf, decide, type RateLimitDecision } from './decision.js';
import type { RateLimitEvent, RateLimitEventSite } from './events.js';
import { policyHeaderFor, RATE_LIMIT_POLICY_HEADER } from './headers.js';
import type { InProcessRateLimiter } from './in-process.js';
import type { RateLimitRequest, ThrottlePolicy } from './options.js';
import { rateLimitStoreUnavailable } from './problems.js';

/** A request the store could not count in time. */
export interface StoreDownRequest {
  request: RateLimitRequest;
  key: string;
  policy: ThrottlePolicy;
  rules: readonly RateLimitRule[];
  error: StoreUnavailableError;
  askedAt: number;
}

/**
 * Each limit follows its own policy: `reject` refuses the request (503), `local` counts it in
 * this process, `allow` lets it pass unchecked. Nothing is charged in the store.
 */
export function whileStoreUnavailable(
  { request, key, policy, rules, error, askedAt }: StoreDownRequest,
  local: InProcessRateLimiter,
  onEvent: (event: RateLimitEvent) => void,
): RateLimitDecision {
  const site: RateLimitEventSite = {
    area: 'rate-limit',
    route: request.route,
    method: request.method,
  };
  const policies = Object.fromEntries(
    policy.limits.map((limit) => [limit.name, limit.onStoreUnavailable]),
  );
  const rejecting = policy.limits.filter((limit) => limit.onStoreUnavailable === 'reject');
  if (rejecting.length > 0) {
    onEvent({
      ...site,
      type: 'store-unavailable',
      outcome: 'rejected',
      limits: policies,
      error,
    });
    return {
      action: 'reject',
      error: rateLimitStoreUnavailable(rejecting.map((limit) => limit.name)),
      result: undefined,
    };
  }
  const localRules = rules.filter(
    (_, index) => policy.limits[index]?.onStoreUnavailable === 'local',
  );
  onEvent({
    ...site,
    type: 'store-unavailable',
    outcome: localRules.length > 0 ? 'local' : 'allowed',
    limits: policies,
    error,
  });
  if (localRules.length === 0) {
    return {
      action: 'allow',
      headers:
        policy.headers === 'always'
          ? { [RATE_LIMIT_POLICY_HEADER]: policyHeaderFor(policy, rules) }
          : {},
      result: undefined,
    };
  }
  const refundable = policy.skipSuccessfulRequests || policy.skipFailedRequests;
  const result = local.consumeNow(key, localRules, false, refundable);
  const decision = decide(policy, result, localRules, key);
  if (decision.action === 'allow' && (policy.skipSuccessfulRequests || policy.skipFailedRequests)) {
    decision.charge = chargeOf(policy, request, { key, rules: localRules }, result, askedAt, true);
  }
  return decision;
}
