import type { Clock } from '../clock.js';
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
import type { RateLimitResult, RateLimitState, RateLimitStore } from '../store.js';
import {
  policyHeaderValue,
  RATE_LIMIT_HEADER,
  RATE_LIMIT_POLICY_HEADER,
  rateLimitHeaderValue,
} from './headers.js';
import { InProcessRateLimiter } from './in-process.js';
import {
  toRule,
  type RateLimitRequest,
  type ThrottleStoreUnavailablePolicy,
  type ResolvedLimit,
  type ThrottlePolicy,
} from './options.js';
import { rateLimited, rateLimitStoreUnavailable } from './problems.js';
import { resolveTracker } from './tracker.js';

export type RateLimitDecision =
  /** Run the handler; set `headers` on the response (empty when the route sends none). */
  | { action: 'allow'; headers: Record<string, string>; result: RateLimitResult | undefined }
  /** Do not run the handler: answer with this problem (429, or 503 when the store is down and a limit says `reject`). */
  | { action: 'reject'; error: TollgateHttpError; result: RateLimitResult | undefined };

/**
 * What the rate-limit engine decided for one request: exactly one per throttled request.
 * `allowed` / `throttled`: the store counted it; `local-allowed` / `local-throttled`: the store
 * was down and the in-process limiter counted it; `store-unavailable-allowed` / `-rejected`: the
 * store was down and the limits' `onStoreUnavailable` let it pass unchecked or answered 503.
 */
export type RateLimitDecisionOutcome =
  | 'allowed'
  | 'throttled'
  | 'local-allowed'
  | 'local-throttled'
  | 'store-unavailable-allowed'
  | 'store-unavailable-rejected';

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
  );

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

  constructor(
    private readonly store: Partial<RateLimitStore>,
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
    const rules = policy.rules;
    const site: RateLimitEventSite | undefined = this.listening
      ? { area: 'rate-limit', route: request.route, method: request.method }
      : undefined;
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
      return this.reported(site, this.whileStoreUnavailable(request, key, policy, cause), true);
    }
    return this.reported(site, this.decide(policy, result, policy.limits), false);
  }

  /** Reports the decision, when someone listens, as the one `decision` event of the request. */
  private reported(
    site: RateLimitEventSite | undefined,
    decision: RateLimitDecision,
    storeDown: boolean,
  ): RateLimitDecision {
    if (site === undefined) return decision;
    const refused = decision.action === 'reject' ? refusingLimits(decision.error) : [];
    let outcome: RateLimitDecisionOutcome;
    if (!storeDown) outcome = decision.action === 'allow' ? 'allowed' : 'throttled';
    else if (decision.result === undefined) {
      outcome =
        decision.action === 'allow' ? 'store-unavailable-allowed' : 'store-unavailable-rejected';
    } else outcome = decision.action === 'allow' ? 'local-allowed' : 'local-throttled';
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
   * Each limit follows its own policy: `reject` refuses the request (503), `local` counts it in
   * this process, `allow` lets it pass unchecked. Nothing is charged in the store.
   */
  private whileStoreUnavailable(
    request: RateLimitRequest,
    key: string,
    policy: ThrottlePolicy,
    error: StoreUnavailableError,
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
    const local = policy.limits.filter((limit) => limit.onStoreUnavailable === 'local');
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
          policy.headers === 'always' ? { [RATE_LIMIT_POLICY_HEADER]: policy.policyHeader } : {},
        result: undefined,
      };
    }
    return this.decide(policy, this.local.consumeNow(key, local.map(toRule)), local);
  }

  private decide(
    policy: ThrottlePolicy,
    result: RateLimitResult,
    limits: readonly ResolvedLimit[],
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
  limits: readonly ResolvedLimit[],
): Record<string, string> {
  return {
    [RATE_LIMIT_POLICY_HEADER]:
      limits === policy.limits ? policy.policyHeader : policyHeaderValue(limits),
    [RATE_LIMIT_HEADER]: rateLimitHeaderValue(result.limits),
  };
}

export function storeCannotRateLimit(): TollgateConfigError {
  return new TollgateConfigError(
    'TOLLGATE_STORE_CANNOT_RATE_LIMIT',
    'the configured store has no consume() method, so it cannot rate limit: use RedisStore or MemoryStore, or implement RateLimitStore',
  );
}

/** The names of the limits that refused a request, as its 429 or 503 problem lists them. */
function refusingLimits(error: TollgateHttpError): readonly string[] {
  const limits = error.extensions.limits;
  return Array.isArray(limits) ? (limits as string[]) : [];
}

/** One line for an event, for whichever logger the adapter uses. */
export function describeRateLimitEvent(event: RateLimitEvent): string {
  const where = `${event.method} ${event.route}`;
  switch (event.type) {
    case 'decision':
      return `${where}: ${event.outcome}${event.limits.length > 0 ? ` (${event.limits.join(', ')})` : ''}`;
    case 'store-call':
      return `${where}: store ${event.operation} ${event.ok ? 'answered' : 'failed'} in ${event.durationMs.toFixed(1)} ms`;
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
 * The default reporter, used when no `onEvent` is given: store failures only, at most one line
 * every 10 s through `write`.
 */
export function rateLimitWarnings(write: (line: string) => void): (event: RateLimitEvent) => void {
  const warn = quietWarnings(write);
  return (event) => {
    if (event.type === 'store-unavailable') warn(event.type, describeRateLimitEvent(event));
  };
}
