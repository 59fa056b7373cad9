import type { Clock } from '../clock.js';
import { withDeadline } from '../deadline.js';
import {
  StoreUnavailableError,
  TollgateConfigError,
  toError,
  type TollgateHttpError,
} from '../errors.js';
import { storageKey, validateNamespace } from '../keys.js';
import type { RateLimitResult, RateLimitRule, RateLimitState, RateLimitStore } from '../store.js';
import {
  policyHeaderValue,
  RATE_LIMIT_HEADER,
  RATE_LIMIT_POLICY_HEADER,
  rateLimitHeaderValue,
} from './headers.js';
import { InProcessRateLimiter } from './in-process.js';
import {
  resolveRules,
  type RateLimitRequest,
  type RateLimitStoreFailurePolicy,
  type ThrottlePolicy,
} from './options.js';
import { rateLimited, rateLimitStoreUnavailable } from './problems.js';
import { resolveTracker } from './tracker.js';

export type RateLimitDecision =
  /** Run the handler; set `headers` on the response (empty when the route sends none). */
  | { action: 'allow'; headers: Record<string, string>; result: RateLimitResult | undefined }
  /** Do not run the handler: answer with this problem (429, or 503 when the store is down and a limit says `reject`). */
  | { action: 'reject'; error: TollgateHttpError; result: RateLimitResult | undefined };

/** What the engine reports besides its decisions, for logs and metrics. */
export type RateLimitEvent = {
  type: 'store-unavailable';
  /** What the request got: passed unchecked, 503, or the in-process limiter's decision. */
  outcome: 'allowed' | 'rejected' | 'local';
  /** Each limit of the route and its store-failure policy. */
  limits: Record<string, RateLimitStoreFailurePolicy>;
  error: Error;
};

export interface RateLimitEngineOptions {
  /** Prefix of every storage key. Default `tollgate`. */
  namespace?: string;
  /** Called for events worth logging. Default: warnings on the console. */
  onEvent?: (event: RateLimitEvent) => void;
  /** Most counters the in-process fallback (`onStoreUnavailable: 'local'`) keeps. Default 10 000. */
  localMaxKeys?: number;
  /** Time source of the in-process fallback; tests pass a fake clock. */
  clock?: Clock;
}

/**
 * Decides whether a request may run: one atomic store call checks and charges every named limit of
 * the route, all or none. It holds no framework knowledge: adapters describe the request and send
 * the headers and rejections it returns.
 */
export class RateLimitEngine {
  private readonly namespace: string;
  private readonly onEvent: (event: RateLimitEvent) => void;
  private readonly local: InProcessRateLimiter;

  constructor(
    private readonly store: Partial<RateLimitStore>,
    options: RateLimitEngineOptions = {},
  ) {
    this.namespace = validateNamespace(options.namespace ?? 'tollgate');
    this.onEvent = options.onEvent ?? defaultEventReporter;
    const localMaxKeys = options.localMaxKeys ?? 10_000;
    if (!Number.isSafeInteger(localMaxKeys) || localMaxKeys < 1) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_LOCAL_MAX_KEYS',
        `localMaxKeys is ${String(localMaxKeys)}: use a whole number of counters, at least 1`,
      );
    }
    this.local = new InProcessRateLimiter({
      maxKeys: localMaxKeys,
      ...(options.clock ? { clock: options.clock } : {}),
    });
  }

  /** Whether the store can rate limit at all; the adapters check this at start-up. */
  get storeSupportsRateLimiting(): boolean {
    return typeof this.store.consume === 'function';
  }

  /**
   * Decides for this request. Store failures become the limits' policies; only a broken custom
   * tracker or key function (a bug in the app) rejects the promise.
   */
  async check(request: RateLimitRequest, policy: ThrottlePolicy): Promise<RateLimitDecision> {
    if (policy.limits.length === 0) return { action: 'allow', headers: {}, result: undefined };
    const consume = this.store.consume;
    if (typeof consume !== 'function') throw storeCannotRateLimit();
    // A custom tracker may be async; the built-in one never is, and costs no await.
    const resolved = resolveTracker(request, policy);
    const tracker = typeof resolved === 'string' ? resolved : await resolved;
    // The tracker and the counter's name form the {hash tag}: every limit's key shares it, so the
    // one script that decides may touch all of them on Redis Cluster.
    const key = storageKey(this.namespace, 'rl', [policy.key(request), tracker]);
    // Fixed limits cost no await: the policy's rules, built once.
    const resolvedRules = resolveRules(request, policy);
    const rules = Array.isArray(resolvedRules) ? resolvedRules : await resolvedRules;
    let result: RateLimitResult;
    try {
      result = await withDeadline('consume', policy.storeTimeoutMs, () =>
        consume.call(this.store, key, rules),
      );
    } catch (error) {
      const cause = toError(error);
      if (!(cause instanceof StoreUnavailableError)) throw cause;
      return this.whileStoreUnavailable(key, policy, rules, cause);
    }
    return this.decide(policy, result, rules);
  }

  /**
   * Each limit follows its own policy: `reject` refuses the request (503), `local` counts it in
   * this process, `allow` lets it pass unchecked. Nothing is charged in the store.
   */
  private whileStoreUnavailable(
    key: string,
    policy: ThrottlePolicy,
    rules: readonly RateLimitRule[],
    error: StoreUnavailableError,
  ): RateLimitDecision {
    const policies = Object.fromEntries(
      policy.limits.map((limit) => [limit.name, limit.onStoreUnavailable]),
    );
    const rejecting = policy.limits.filter((limit) => limit.onStoreUnavailable === 'reject');
    if (rejecting.length > 0) {
      this.onEvent({ type: 'store-unavailable', outcome: 'rejected', limits: policies, error });
      return {
        action: 'reject',
        error: rateLimitStoreUnavailable(rejecting.map((limit) => limit.name)),
        result: undefined,
      };
    }
    const local = rules.filter((_, index) => policy.limits[index]?.onStoreUnavailable === 'local');
    this.onEvent({
      type: 'store-unavailable',
      outcome: local.length > 0 ? 'local' : 'allowed',
      limits: policies,
      error,
    });
    if (local.length === 0) {
      return {
        action: 'allow',
        headers:
          policy.headers === 'always'
            ? { [RATE_LIMIT_POLICY_HEADER]: policyHeaderFor(policy, rules) }
            : {},
        result: undefined,
      };
    }
    return this.decide(policy, this.local.consumeNow(key, local), local);
  }

  private decide(
    policy: ThrottlePolicy,
    result: RateLimitResult,
    limits: readonly RateLimitRule[],
  ): RateLimitDecision {
    if (result.allowed) {
      return {
        action: 'allow',
        headers: policy.headers === 'always' ? rateLimitHeaders(policy, result, limits) : {},
        result,
      };
    }
    const exhausted = result.limits
      .filter((state: RateLimitState) => !state.allowed)
      .map((state) => state.name);
    return {
      action: 'reject',
      error: rateLimited(
        exhausted,
        result.retryAfterMs,
        policy.headers !== 'never' ? rateLimitHeaders(policy, result, limits) : {},
      ),
      result,
    };
  }
}

/**
 * `RateLimit-Policy` and `RateLimit` for the limits the store checked. Limits it did not check
 * (store down, policy `allow`) are left out of both fields rather than reported with made-up
 * numbers.
 */
function rateLimitHeaders(
  policy: ThrottlePolicy,
  result: RateLimitResult,
  rules: readonly RateLimitRule[],
): Record<string, string> {
  return {
    [RATE_LIMIT_POLICY_HEADER]: policyHeaderFor(policy, rules),
    [RATE_LIMIT_HEADER]: rateLimitHeaderValue(result.limits),
  };
}

/** The policy's header, computed once, unless the rules are this request's own (dynamic or fewer). */
function policyHeaderFor(policy: ThrottlePolicy, rules: readonly RateLimitRule[]): string {
  return rules === policy.rules ? policy.policyHeader : policyHeaderValue(rules);
}

export function storeCannotRateLimit(): TollgateConfigError {
  return new TollgateConfigError(
    'TOLLGATE_STORE_CANNOT_RATE_LIMIT',
    'the configured store has no consume() method, so it cannot rate limit: use RedisStore or MemoryStore, or implement RateLimitStore',
  );
}

/** One line for an event, for whichever logger the adapter uses. */
export function describeRateLimitEvent(event: RateLimitEvent): string {
  const outcome = {
    allowed: 'passed unchecked',
    rejected: 'rejected with 503',
    local: 'checked by the in-process limiter',
  }[event.outcome];
  return `store unavailable for rate limiting, request ${outcome}: ${event.error.message}`;
}

function defaultEventReporter(event: RateLimitEvent): void {
  console.warn(`tollgate: ${describeRateLimitEvent(event)}`);
}
