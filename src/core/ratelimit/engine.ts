import { systemClock, type Clock } from '../clock.js';
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
  legacyHeaders,
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
import { addressDenied, rateLimited, rateLimitStoreUnavailable } from './problems.js';
import { requestAddress, resolveTracker } from './tracker.js';

export type RateLimitDecision =
  /**
   * Run the handler; set `headers` on the response (empty when the route sends none). `charge`:
   * what a skip rule may give back once the response is known (`RateLimitEngine.settle`).
   */
  | {
      action: 'allow';
      headers: Record<string, string>;
      result: RateLimitResult | undefined;
      charge?: RateLimitCharge | undefined;
      /** Where the request was counted (with `result`): its storage key and this request's rules. */
      counted?: RateLimitCounted | undefined;
    }
  /** Do not run the handler: answer with this problem (429, or 503 when the store is down and a limit says `reject`). */
  | {
      action: 'reject';
      error: TollgateHttpError;
      result: RateLimitResult | undefined;
      counted?: RateLimitCounted | undefined;
    };

/** A refused request, for an app that answers it itself (a custom 429 body or handler). */
export interface RateLimitRejection {
  /** The problem Tollgate would send: `status`, `headers` (`Retry-After`, `RateLimit`), `toProblem()`. */
  error: TollgateHttpError;
  /** The store's decision, when the store decided (not for `403 address-denied` or a `503`). */
  result: RateLimitResult | undefined;
}

/** A client's storage key and the rules a request of it was checked against. */
export interface RateLimitCounted {
  readonly key: string;
  readonly rules: readonly RateLimitRule[];
}

/** What the engine reports besides its decisions, for logs and metrics. */
export type RateLimitEvent =
  | {
      type: 'store-unavailable';
      /** What the request got: passed unchecked, 503, or the in-process limiter's decision. */
      outcome: 'allowed' | 'rejected' | 'local';
      /** Each limit of the route and its store-failure policy. */
      limits: Record<string, RateLimitStoreFailurePolicy>;
      error: Error;
    }
  | {
      /**
       * `X-Forwarded-For` arrived while no proxy is trusted (`trustProxy: 0`): reported once per
       * engine. Behind a proxy every client then counts as the proxy's address.
       */
      type: 'forwarded-for-ignored';
      remoteAddress: string | undefined;
    }
  | {
      /** A skip rule's give-back did not reach the store: the request stays counted. */
      type: 'refund-failed';
      limits: string[];
      error: Error;
    };

/**
 * A request's charge, kept until its response is known, when the route gives units back for
 * successful or failed responses (`skipSuccessfulRequests`, `skipFailedRequests`).
 */
export interface RateLimitCharge extends RateLimitCounted {
  readonly result: RateLimitResult;
  /** The engine's clock before the store was asked: the charge is no older than this. */
  readonly askedAt: number;
  /** Charged by the in-process fallback rather than the store. */
  readonly local: boolean;
  readonly skipSuccessful: boolean;
  readonly skipFailed: boolean;
  readonly storeTimeoutMs: number;
}

/**
 * Slack for the whole milliseconds the stores report times in (rounded up): a charge is given
 * back only while it certainly still counts.
 */
const REFUND_MARGIN_MS = 2;

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
  private readonly clock: Clock;
  private forwardedForReported = false;

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
    this.clock = options.clock ?? systemClock;
    this.local = new InProcessRateLimiter({ maxKeys: localMaxKeys, clock: this.clock });
  }

  /** Whether the store can give units back, read and reset clients (skip rules, the admin API). */
  get storeSupportsAdjusting(): boolean {
    return (
      typeof this.store.peek === 'function' &&
      typeof this.store.adjust === 'function' &&
      typeof this.store.reset === 'function'
    );
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
    if (policy.limits.length === 0) return ALLOW_UNCOUNTED;
    const consume = this.store.consume;
    if (typeof consume !== 'function') throw storeCannotRateLimit();
    if (policy.trustProxy === 0 && !this.forwardedForReported) this.reportForwardedFor(request);
    if (policy.allowList || policy.denyList) {
      const address = requestAddress(request, policy.trustProxy);
      // The deny list wins: an address on both is refused.
      if (policy.denyList?.has(address)) {
        return { action: 'reject', error: addressDenied(), result: undefined };
      }
      if (policy.allowList?.has(address)) return ALLOW_UNCOUNTED;
    }
    if (policy.ignoreUserAgents.length > 0 && ignoredUserAgent(request, policy)) {
      return ALLOW_UNCOUNTED;
    }
    if (policy.skip && (await policy.skip(request)) === true) return ALLOW_UNCOUNTED;
    const found = this.clientKey(request, policy);
    const key = typeof found === 'string' ? found : await found;
    // Fixed limits cost no await: the policy's rules, built once.
    const resolvedRules = resolveRules(request, policy);
    const rules = Array.isArray(resolvedRules) ? resolvedRules : await resolvedRules;
    const refunds = policy.skipSuccessfulRequests || policy.skipFailedRequests;
    const askedAt = refunds ? this.clock.now() : 0;
    let result: RateLimitResult;
    try {
      result = await withDeadline('consume', policy.storeTimeoutMs, () =>
        consume.call(this.store, key, rules),
      );
    } catch (error) {
      const cause = toError(error);
      if (!(cause instanceof StoreUnavailableError)) throw cause;
      return this.whileStoreUnavailable(key, policy, rules, cause, askedAt);
    }
    const decision = this.decide(policy, result, rules, key);
    if (refunds && decision.action === 'allow') {
      decision.charge = charge(policy, key, rules, result, askedAt, false);
    }
    return decision;
  }

  /**
   * The most common misconfiguration behind a proxy: every client counted as the proxy. Said once,
   * since a direct client may send the header too (it is ignored then, rightly).
   */
  private reportForwardedFor(request: RateLimitRequest): void {
    if (request.header('x-forwarded-for') === undefined) return;
    this.forwardedForReported = true;
    this.onEvent({ type: 'forwarded-for-ignored', remoteAddress: request.remoteAddress });
  }

  /**
   * The storage key a request is counted under: the tracker and the counter's name form its
   * {hash tag}, so every limit's key shares it and the one script that decides may touch all of
   * them on Redis Cluster. A custom tracker may be async; the built-in one costs no await.
   */
  clientKey(request: RateLimitRequest, policy: ThrottlePolicy): string | Promise<string> {
    const tracker = resolveTracker(request, policy);
    if (typeof tracker === 'string') return this.keyOf(policy.key(request), tracker);
    return tracker.then((resolved) => this.keyOf(policy.key(request), resolved));
  }

  /** The storage key of a counter name and a tracker (`custom:…`, `principal:…`, `address:…`). */
  keyOf(counter: string, tracker: string): string {
    return storageKey(this.namespace, 'rl', [counter, tracker]);
  }

  /**
   * Gives a request's units back once its response is known, if a skip rule says so: `statusCode`
   * below 400 is a success; `undefined` (the client went away first) a failure. Only limits whose
   * charge still counts are given back (a window that has since ended is left alone, or the give-back
   * would come out of the next one). Never throws: a failure is reported as a `refund-failed` event
   * and the request simply stays counted.
   */
  settle(charge: RateLimitCharge, statusCode: number | undefined): Promise<void> {
    const succeeded = statusCode !== undefined && statusCode < 400;
    if (succeeded ? !charge.skipSuccessful : !charge.skipFailed) return Promise.resolve();
    const elapsed = this.clock.now() - charge.askedAt;
    const units = charge.rules.map((rule, index) => {
      const state = charge.result.limits[index];
      return state && elapsed + REFUND_MARGIN_MS < state.resetMs ? -rule.cost : 0;
    });
    if (units.every((unit) => unit === 0)) return Promise.resolve();
    if (charge.local) {
      this.local.adjustNow(charge.key, charge.rules, units);
      return Promise.resolve();
    }
    const limits = charge.rules.map((rule) => rule.name);
    try {
      return withDeadline('adjust', charge.storeTimeoutMs, () =>
        this.adjust(charge.key, charge.rules, units),
      ).catch((error: unknown) => {
        this.onEvent({ type: 'refund-failed', limits, error: toError(error) });
      });
    } catch (error) {
      this.onEvent({ type: 'refund-failed', limits, error: toError(error) });
      return Promise.resolve();
    }
  }

  /** What the store would decide now for `key`, charging nothing (the admin API's `get`). */
  peek(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    const peek = this.store.peek;
    if (typeof peek !== 'function') throw storeCannotAdjust();
    return peek.call(this.store, key, rules);
  }

  /** Takes (> 0) or gives back (< 0) units per rule, whatever the limits say (see `RateLimitStore.adjust`). */
  adjust(key: string, rules: readonly RateLimitRule[], units: readonly number[]): Promise<void> {
    const adjust = this.store.adjust;
    if (typeof adjust !== 'function') throw storeCannotAdjust();
    return adjust.call(this.store, key, rules, units);
  }

  /** Forgets `key`'s counters and blocks on these rules. */
  reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    const reset = this.store.reset;
    if (typeof reset !== 'function') throw storeCannotAdjust();
    return reset.call(this.store, key, rules);
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
    askedAt: number,
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
    const result = this.local.consumeNow(key, local);
    const decision = this.decide(policy, result, local, key);
    if (
      decision.action === 'allow' &&
      (policy.skipSuccessfulRequests || policy.skipFailedRequests)
    ) {
      decision.charge = charge(policy, key, local, result, askedAt, true);
    }
    return decision;
  }

  /** Every field set here, at once: one object shape per decision, however it is used after. */
  private decide(
    policy: ThrottlePolicy,
    result: RateLimitResult,
    limits: readonly RateLimitRule[],
    key: string,
  ): RateLimitDecision {
    const counted = { key, rules: limits };
    if (result.allowed) {
      return {
        action: 'allow',
        headers: policy.headers === 'always' ? rateLimitHeaders(policy, result, limits) : {},
        result,
        charge: undefined,
        counted,
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
      counted,
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
  const headers = {
    [RATE_LIMIT_POLICY_HEADER]: policyHeaderFor(policy, rules),
    [RATE_LIMIT_HEADER]: rateLimitHeaderValue(result.limits),
  };
  // Epoch seconds: the wall clock, which is what clients compare the value with.
  return policy.legacyHeaders
    ? { ...headers, ...legacyHeaders(rules, result.limits, Date.now()) }
    : headers;
}

/** The policy's header, computed once, unless the rules are this request's own (dynamic or fewer). */
function policyHeaderFor(policy: ThrottlePolicy, rules: readonly RateLimitRule[]): string {
  return rules === policy.rules ? policy.policyHeader : policyHeaderValue(rules);
}

const ALLOW_UNCOUNTED: RateLimitDecision = Object.freeze({
  action: 'allow',
  headers: Object.freeze({}) as Record<string, string>,
  result: undefined,
  charge: undefined,
  counted: undefined,
});

function ignoredUserAgent(request: RateLimitRequest, policy: ThrottlePolicy): boolean {
  const agent = request.header('user-agent');
  if (typeof agent !== 'string') return false;
  return policy.ignoreUserAgents.some((pattern) => {
    // A global or sticky pattern keeps its position between tests: start from the beginning.
    pattern.lastIndex = 0;
    return pattern.test(agent);
  });
}

function charge(
  policy: ThrottlePolicy,
  key: string,
  rules: readonly RateLimitRule[],
  result: RateLimitResult,
  askedAt: number,
  local: boolean,
): RateLimitCharge {
  return {
    key,
    rules,
    result,
    askedAt,
    local,
    skipSuccessful: policy.skipSuccessfulRequests,
    skipFailed: policy.skipFailedRequests,
    storeTimeoutMs: policy.storeTimeoutMs,
  };
}

export function storeCannotAdjust(): TollgateConfigError {
  return new TollgateConfigError(
    'TOLLGATE_STORE_CANNOT_ADJUST',
    'the configured store has no peek(), adjust() or reset(), which skipSuccessfulRequests, skipFailedRequests and the rate-limit admin API need: use RedisStore, MemoryStore or QuorumStore, or implement them (RateLimitStore)',
  );
}

export function storeCannotRateLimit(): TollgateConfigError {
  return new TollgateConfigError(
    'TOLLGATE_STORE_CANNOT_RATE_LIMIT',
    'the configured store has no consume() method, so it cannot rate limit: use RedisStore or MemoryStore, or implement RateLimitStore',
  );
}

/** One line for an event, for whichever logger the adapter uses. */
export function describeRateLimitEvent(event: RateLimitEvent): string {
  if (event.type === 'forwarded-for-ignored') {
    return `a request came with X-Forwarded-For from ${event.remoteAddress ?? 'an unknown address'}, but trustProxy is 0, so the header is ignored and the socket address counted: behind a proxy or load balancer every client then shares the proxy's limit. Set trustProxy to the number of proxies, their addresses ('10.0.0.0/8'), or 'framework'; leave it 0 if clients connect directly (this is said once)`;
  }
  if (event.type === 'refund-failed') {
    return `could not give back the units of a skipped request on ${event.limits.join(', ')}, it stays counted: ${event.error.message}`;
  }
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
