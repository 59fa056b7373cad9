import { afterThisTurn, systemClock, type Clock } from '../clock.js';
import { withDeadline } from '../deadline.js';
import { StoreUnavailableError, TollgateConfigError, toError } from '../errors.js';
import { storageKey, validateNamespace } from '../keys.js';
import { consoleWarning, neverThrows, observedCall } from '../report.js';
import type {
  RateLimitConsumeOptions,
  RateLimitResult,
  RateLimitRule,
  RateLimitStore,
  RecordInvalidations,
} from '../store.js';
import {
  ALLOW_UNCOUNTED,
  chargeOf,
  decide,
  storeDownOutcome,
  unitsToGiveBack,
  type RateLimitCharge,
  type RateLimitDecision,
  type RateLimitDecisionOutcome,
} from './decision.js';
import { BlockCache } from './block-cache.js';
import type { RateLimitEngineOptions } from './engine-options.js';
import { storeCannotAdjust, storeCannotRateLimit } from './errors.js';
import {
  rateLimitWarnings,
  refusingLimits,
  type RateLimitEvent,
  type RateLimitEventSite,
} from './events.js';
import { InProcessRateLimiter } from './in-process.js';
import type { RateLimitRequest, ThrottlePolicy } from './options.js';
import { resolveRules } from './policy.js';
import { addressDenied } from './problems.js';
import { ignoredUserAgent, requestAddress, resolveTracker } from './tracker.js';
import { whileStoreUnavailable } from './unavailable.js';

export type { RateLimitEngineOptions } from './engine-options.js';

/** What `consume` is told when the request's units may be given back. */
const REFUNDABLE: RateLimitConsumeOptions = Object.freeze({ refundable: true });

/** The part of a policy that says what the store must be able to do. */
type StoreNeeds = Pick<
  ThrottlePolicy,
  'limits' | 'denyList' | 'skipSuccessfulRequests' | 'skipFailedRequests'
>;

/**
 * Decides whether a request may run: one atomic store call checks and charges every named limit of
 * the route, all or none. It holds no framework knowledge: adapters describe the request and the
 * response, and a route's limiter (`rateLimiter()`, limiter.ts) applies the decision to them.
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

  /** Whether the store can rate limit at all. */
  get storeSupportsRateLimiting(): boolean {
    return typeof this.store.consume === 'function';
  }

  /**
   * The one check of the store against a policy, made when a limiter is built (at start-up):
   * counting needs `consume`, and skip rules that give units back need `peek`, `adjust` and
   * `reset`.
   */
  requireStoreFor(policy: StoreNeeds): void {
    if ((policy.limits.length > 0 || policy.denyList) && !this.storeSupportsRateLimiting) {
      throw storeCannotRateLimit();
    }
    if (
      (policy.skipSuccessfulRequests || policy.skipFailedRequests) &&
      !this.storeSupportsAdjusting
    ) {
      throw storeCannotAdjust();
    }
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
    if (policy.ignoreUserAgents.length > 0 && ignoredUserAgent(request, policy.ignoreUserAgents)) {
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
    if (blocks?.holds(key, rules)) {
      // Answered a turn later, as the store would be (see `afterThisTurn`), from what the cache
      // holds then: a reset announced meanwhile lifts the refusal.
      await afterThisTurn();
      const refused = blocks.refuse(key, rules, policy);
      if (refused !== undefined) return this.reported(site, refused, 'throttled');
    }
    const ticket = blocks?.ticket() ?? 0;
    const refunds = policy.skipSuccessfulRequests || policy.skipFailedRequests;
    const askedAt = refunds || blocks ? this.clock.now() : 0;
    let result: RateLimitResult;
    try {
      result = await observedCall(
        'consume',
        policy.storeTimeoutMs,
        () => consume.call(this.store, key, rules, refunds ? REFUNDABLE : undefined),
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
      const decision = whileStoreUnavailable(
        { request, key, policy, rules, error: cause, askedAt },
        this.local,
        this.onEvent,
      );
      return this.reported(site, decision, storeDownOutcome(decision));
    }
    const decision = decide(policy, result, rules, key);
    if (blocks && !result.allowed) blocks.remember(key, rules, result, askedAt, ticket);
    if (refunds && decision.action === 'allow') {
      decision.charge = chargeOf(policy, request, { key, rules }, result, askedAt, false);
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
   * neither, and stays counted. The give-back names each limit's charge, so the store takes the
   * units only from what they were counted in while it still stands: never from a window started
   * since, nor from counters an admin reset since, however late the give-back arrives. A charge
   * that has certainly run out by the engine's own clock is not even sent. Never throws: a failure
   * is reported as a `refund-failed` event and the request simply stays counted.
   */
  settle(charge: RateLimitCharge, statusCode: number | undefined): Promise<void> {
    const units = unitsToGiveBack(charge, statusCode, this.clock.now());
    if (units === undefined) return Promise.resolve();
    const charges = charge.result.limits.map((state) => state.charge);
    if (charge.local) {
      this.local.adjustNow(charge.key, charge.rules, units, charges);
      return Promise.resolve();
    }
    return withDeadline('adjust', charge.storeTimeoutMs, () =>
      this.adjust(charge.key, charge.rules, units, charges),
    ).catch((error: unknown) => {
      this.onEvent({
        area: 'rate-limit',
        route: charge.route,
        method: charge.method,
        type: 'refund-failed',
        limits: charge.rules.map((rule) => rule.name),
        error: toError(error),
      });
    });
  }

  /** What the store would decide now for `key`, charging nothing (the admin API's `get`). */
  peek(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    return this.adjusting((store) => store.peek(key, rules));
  }

  /** Takes (> 0) or gives back (< 0) units per rule, whatever the limits say (see `RateLimitStore.adjust`). */
  adjust(
    key: string,
    rules: readonly RateLimitRule[],
    units: readonly number[],
    charges?: readonly (string | undefined)[],
  ): Promise<void> {
    return this.adjusting((store) =>
      charges === undefined
        ? store.adjust(key, rules, units)
        : store.adjust(key, rules, units, charges),
    ).finally(() => this.blocks?.forget(key));
  }

  /** Forgets `key`'s counters and blocks on these rules, in the store and the `local` fallback. */
  reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    this.local.resetNow(key, rules);
    return this.adjusting((store) => store.reset(key, rules)).finally(() =>
      this.blocks?.forget(key),
    );
  }

  /**
   * A call to the store's admin side (`peek`, `adjust`, `reset`): a store without it, or one that
   * throws instead of rejecting, gives a rejected promise, never an exception in the caller.
   */
  private adjusting<T>(call: (store: RateLimitStore) => Promise<T>): Promise<T> {
    try {
      if (!this.storeSupportsAdjusting) throw storeCannotAdjust();
      return call(this.store as RateLimitStore);
    } catch (error) {
      return Promise.reject(toError(error));
    }
  }
}
