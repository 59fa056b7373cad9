import { systemClock, type Clock } from '../clock.js';
import { withDeadline } from '../deadline.js';
import {
  StoreUnavailableError,
  TollgateConfigError,
  toError,
  type TollgateHttpError,
} from '../errors.js';
import { storageKey, validateNamespace } from '../keys.js';
import {
  consoleWarning,
  neverThrows,
  observedCall,
  quietWarnings,
  type StoreOperation,
} from '../report.js';
import type {
  RateLimitResult,
  RateLimitRule,
  RateLimitState,
  RateLimitStore,
  RecordInvalidations,
} from '../store.js';
import { BlockCache, type BlockCacheOption } from './block-cache.js';
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
  type ThrottleStoreUnavailablePolicy,
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

/**
 * What the rate-limit engine decided for one request: exactly one per throttled request.
 * `allowed` / `throttled`: the store counted it; `local-allowed` / `local-throttled`: the store
 * was down and the in-process limiter counted it; `store-unavailable-allowed` / `-rejected`: the
 * store was down and the limits' `onStoreUnavailable` let it pass unchecked or answered 503;
 * `skipped`: a skip rule, the allow list or an ignored user agent let it pass uncounted;
 * `denied`: its address is on the deny list (403).
 */
export type RateLimitDecisionOutcome =
  | 'allowed'
  | 'throttled'
  | 'local-allowed'
  | 'local-throttled'
  | 'store-unavailable-allowed'
  | 'store-unavailable-rejected'
  | 'skipped'
  | 'denied';

/** Where an event happened: the route template and method, never the tracker (who is counted). */
export interface RateLimitEventSite {
  area: 'rate-limit';
  route: string;
  method: string;
}

/** What the rate-limit engine reports, for logs and metrics; tell events apart by `type`. */
export type RateLimitEvent = RateLimitEventSite &
  (
    | {
        type: 'decision';
        outcome: RateLimitDecisionOutcome;
        /** The limits that refused the request (their names), for `throttled`, `local-throttled` and `store-unavailable-rejected`; else empty. */
        limits: readonly string[];
      }
    | {
        type: 'store-unavailable';
        /** What the request got: passed unchecked, 503, or the in-process limiter's decision. */
        outcome: 'allowed' | 'rejected' | 'local';
        /** Each limit of the route and its store-failure policy. */
        limits: Record<string, ThrottleStoreUnavailablePolicy>;
        error: Error;
      }
    /** The store call that checked the limits: how long it took, and whether it answered. */
    | {
        type: 'store-call';
        operation: StoreOperation;
        durationMs: number;
        ok: boolean;
        /** Why it failed (a `StoreUnavailableError`); `undefined` when `ok`. */
        error?: Error | undefined;
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
      }
  );

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
  /** The route and method it was counted on, for the `refund-failed` event. */
  readonly route: string;
  readonly method: string;
}

/**
 * Slack for the whole milliseconds the stores report times in (rounded up): a charge is given
 * back only while it certainly still counts.
 */
const REFUND_MARGIN_MS = 2;

export interface RateLimitEngineOptions {
  /** Prefix of every storage key. Default `tollgate`. */
  namespace?: string;
  /**
   * Hears every event: each request's decision, each store call, and store failures. Default:
   * the failures alone, as warnings on the console, at most one every 10 s.
   */
  onEvent?: (event: RateLimitEvent) => void;
  /** Where the default reporter writes its warnings when no `onEvent` is given. Default the console. */
  warn?: (line: string) => void;
  /** Most counters the in-process fallback (`onStoreUnavailable: 'local'`) keeps. Default 10 000. */
  localMaxKeys?: number;
  /** Time source of the in-process fallback; tests pass a fake clock. */
  clock?: Clock;
  /**
   * Refuse a client the store refused, until the moment the store said it would admit it, without
   * asking the store again: `true`, or its bounds (`maxEntries`, default 10 000; `maxBytes`,
   * default 4 MiB). Needs a store that announces resets (RedisStore). Default off.
   */
  blockCache?: BlockCacheOption;
}

/**
 * Decides whether a request may run: one atomic store call checks and charges every named limit of
 * the route, all or none. It holds no framework knowledge: adapters describe the request and send
 * the headers and rejections it returns.
 */
export class RateLimitEngine {
  private readonly namespace: string;
  private readonly onEvent: (event: RateLimitEvent) => void;
  /** Whether the application listens: without it no decision is reported and no call timed. */
  private readonly listening: boolean;
  private readonly local: InProcessRateLimiter;
  private readonly clock: Clock;
  private forwardedForReported = false;
  private readonly blocks: BlockCache | undefined;

  constructor(
    private readonly store: Partial<RateLimitStore> & { invalidations?(): RecordInvalidations },
    options: RateLimitEngineOptions = {},
  ) {
    this.namespace = validateNamespace(options.namespace ?? 'tollgate');
    this.listening = options.onEvent !== undefined;
    this.onEvent = neverThrows(
      options.onEvent ?? rateLimitWarnings(options.warn ?? consoleWarning),
    );
    const localMaxKeys = options.localMaxKeys ?? 10_000;
    if (!Number.isSafeInteger(localMaxKeys) || localMaxKeys < 1) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_LOCAL_MAX_KEYS',
        `localMaxKeys is ${String(localMaxKeys)}: use a whole number of counters, at least 1`,
      );
    }
    this.clock = options.clock ?? systemClock;
    this.local = new InProcessRateLimiter({ maxKeys: localMaxKeys, clock: this.clock });
    this.blocks = options.blockCache
      ? new BlockCache(options.blockCache, store.invalidations?.(), this.clock)
      : undefined;
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
    // The deny list applies even where nothing is counted.
    if (policy.limits.length === 0 && !policy.denyList) return ALLOW_UNCOUNTED;
    const consume = this.store.consume;
    if (typeof consume !== 'function') throw storeCannotRateLimit();
    const site: RateLimitEventSite | undefined = this.listening
      ? { area: 'rate-limit', route: request.route, method: request.method }
      : undefined;
    if (policy.trustProxy === 0 && !this.forwardedForReported) {
      this.reportForwardedFor(request);
    }
    if (policy.allowList || policy.denyList) {
      const address = requestAddress(request, policy.trustProxy);
      // The deny list wins: an address on both is refused.
      if (policy.denyList?.has(address)) {
        return this.reported(
          site,
          { action: 'reject', error: addressDenied(), result: undefined },
          'denied',
        );
      }
      if (policy.allowList?.has(address)) return this.reported(site, ALLOW_UNCOUNTED, 'skipped');
    }
    if (policy.limits.length === 0) return this.reported(site, ALLOW_UNCOUNTED, 'skipped');
    if (policy.ignoreUserAgents.length > 0 && ignoredUserAgent(request, policy)) {
      return this.reported(site, ALLOW_UNCOUNTED, 'skipped');
    }
    if (policy.skip && (await policy.skip(request)) === true) {
      return this.reported(site, ALLOW_UNCOUNTED, 'skipped');
    }
    const found = this.clientKey(request, policy);
    const key = typeof found === 'string' ? found : await found;
    // Fixed limits cost no await: the policy's rules, built once.
    const resolvedRules = resolveRules(request, policy);
    const rules = Array.isArray(resolvedRules) ? resolvedRules : await resolvedRules;
    // A client refused under the route's own limits stays refused locally (see BlockCache).
    const blocks = rules === policy.rules ? this.blocks : undefined;
    const refused = blocks?.refused(key, rules);
    if (refused !== undefined) {
      return this.reported(site, this.decide(policy, refused, rules, key), 'throttled');
    }
    const ticket = blocks?.ticket() ?? 0;
    const refunds = policy.skipSuccessfulRequests || policy.skipFailedRequests;
    const askedAt = refunds || blocks ? this.clock.now() : 0;
    let result: RateLimitResult;
    try {
      result = await observedCall(
        'consume',
        policy.storeTimeoutMs,
        () => consume.call(this.store, key, rules),
        site &&
          ((operation, durationMs, error) =>
            this.onEvent({
              area: 'rate-limit',
              route: site.route,
              method: site.method,
              type: 'store-call',
              operation,
              durationMs,
              ok: error === undefined,
              error,
            })),
      );
    } catch (error) {
      const cause = toError(error);
      if (!(cause instanceof StoreUnavailableError)) throw cause;
      const decision = this.whileStoreUnavailable(request, key, policy, rules, cause, askedAt);
      return this.reported(site, decision, storeDownOutcome(decision));
    }
    const decision = this.decide(policy, result, rules, key);
    if (blocks && !result.allowed) blocks.remember(key, rules, result, askedAt, ticket);
    if (refunds && decision.action === 'allow') {
      decision.charge = charge(policy, request, key, rules, result, askedAt, false);
    }
    return this.reported(site, decision, decision.action === 'allow' ? 'allowed' : 'throttled');
  }

  /** Reports the decision, when someone listens, as the one `decision` event of the request. */
  private reported(
    site: RateLimitEventSite | undefined,
    decision: RateLimitDecision,
    outcome: RateLimitDecisionOutcome,
  ): RateLimitDecision {
    if (site === undefined) return decision;
    const refused = decision.action === 'reject' ? refusingLimits(decision.error) : [];
    // A literal with every field, not a spread: one object shape, cheap on every request.
    this.onEvent({
      area: 'rate-limit',
      route: site.route,
      method: site.method,
      type: 'decision',
      outcome,
      limits: refused,
    });
    return decision;
  }

  /**
   * The most common misconfiguration behind a proxy: every client counted as the proxy. Said once,
   * since a direct client may send the header too (it is ignored then, rightly).
   */
  private reportForwardedFor(request: RateLimitRequest): void {
    if (request.header('x-forwarded-for') === undefined) return;
    this.forwardedForReported = true;
    this.onEvent({
      area: 'rate-limit',
      route: request.route,
      method: request.method,
      type: 'forwarded-for-ignored',
      remoteAddress: request.remoteAddress,
    });
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
   * below 400 is a success, 400 and above a failure; `undefined` (the client went away first) is
   * neither, and stays counted. Only limits whose
   * charge still counts are given back (a window that has since ended is left alone, or the give-back
   * would come out of the next one). Never throws: a failure is reported as a `refund-failed` event
   * and the request simply stays counted.
   */
  settle(charge: RateLimitCharge, statusCode: number | undefined): Promise<void> {
    // A client that went away before its answer stays counted: the handler may have done all its
    // work, and giving the units back would let any client run it without limit by hanging up.
    if (statusCode === undefined) return Promise.resolve();
    const succeeded = statusCode < 400;
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
        this.refundFailed(charge, limits, error);
      });
    } catch (error) {
      this.refundFailed(charge, limits, error);
      return Promise.resolve();
    }
  }

  private refundFailed(charge: RateLimitCharge, limits: string[], error: unknown): void {
    this.onEvent({
      area: 'rate-limit',
      route: charge.route,
      method: charge.method,
      type: 'refund-failed',
      limits,
      error: toError(error),
    });
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
    return adjust.call(this.store, key, rules, units).finally(() => this.blocks?.forget(key));
  }

  /** Forgets `key`'s counters and blocks on these rules. */
  reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    const reset = this.store.reset;
    if (typeof reset !== 'function') throw storeCannotAdjust();
    return reset.call(this.store, key, rules).finally(() => this.blocks?.forget(key));
  }

  /**
   * Each limit follows its own policy: `reject` refuses the request (503), `local` counts it in
   * this process, `allow` lets it pass unchecked. Nothing is charged in the store.
   */
  private whileStoreUnavailable(
    request: RateLimitRequest,
    key: string,
    policy: ThrottlePolicy,
    rules: readonly RateLimitRule[],
    error: StoreUnavailableError,
    askedAt: number,
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
      this.onEvent({
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
    const local = rules.filter((_, index) => policy.limits[index]?.onStoreUnavailable === 'local');
    this.onEvent({
      ...site,
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
      decision.charge = charge(policy, request, key, local, result, askedAt, true);
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
  request: RateLimitRequest,
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
    route: request.route,
    method: request.method,
  };
}

/** The outcome of a request the store could not count: the in-process limiter's, or the policy's. */
function storeDownOutcome(decision: RateLimitDecision): RateLimitDecisionOutcome {
  if (decision.result === undefined) {
    return decision.action === 'allow' ? 'store-unavailable-allowed' : 'store-unavailable-rejected';
  }
  return decision.action === 'allow' ? 'local-allowed' : 'local-throttled';
}

/** The names of the limits that refused a request, as its 429 or 503 problem lists them. */
function refusingLimits(error: TollgateHttpError): readonly string[] {
  const limits = error.extensions.limits;
  return Array.isArray(limits) ? (limits as string[]) : [];
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
  const where = `${event.method} ${event.route}`;
  switch (event.type) {
    case 'decision':
      return `${where}: ${event.outcome}${event.limits.length > 0 ? ` (${event.limits.join(', ')})` : ''}`;
    case 'store-call':
      return `${where}: store ${event.operation} ${event.ok ? 'answered' : 'failed'} in ${event.durationMs.toFixed(1)} ms`;
    case 'forwarded-for-ignored':
      return `a request to ${where} came with X-Forwarded-For from ${event.remoteAddress ?? 'an unknown address'}, but trustProxy is 0, so the header is ignored and the socket address counted: behind a proxy or load balancer every client then shares the proxy's limit. Set trustProxy to the number of proxies, their addresses ('10.0.0.0/8'), or 'framework'; leave it 0 if clients connect directly (this is said once)`;
    case 'refund-failed':
      return `could not give back the units of a skipped request to ${where} on ${event.limits.join(', ')}, it stays counted: ${event.error.message}`;
    case 'store-unavailable': {
      const outcome = {
        allowed: 'passed unchecked',
        rejected: 'rejected with 503',
        local: 'checked by the in-process limiter',
      }[event.outcome];
      return `store unavailable for rate limiting, request to ${where} ${outcome}: ${event.error.message}`;
    }
  }
}

/**
 * The default reporter, used when no `onEvent` is given: store failures, failed give-backs and the
 * proxy misconfiguration, each kind at most one line every 10 s through `write`.
 */
export function rateLimitWarnings(write: (line: string) => void): (event: RateLimitEvent) => void {
  const warn = quietWarnings(write);
  return (event) => {
    if (
      event.type === 'store-unavailable' ||
      event.type === 'refund-failed' ||
      event.type === 'forwarded-for-ignored'
    ) {
      warn(event.type, describeRateLimitEvent(event));
    }
  };
}
