import { afterThisTurn, sleep } from '../clock.js';
import { StoreUnavailableError, TollgateHttpError, toError } from '../errors.js';
import { parseIdempotencyKey, storageKey, validateNamespace } from '../keys.js';
import { Lease, monotonicNow } from '../lease/lease.js';
import { consoleWarning, neverThrows, type StoreCallObserver } from '../report.js';
import { nextOwnerToken, takeOrGiveBack } from '../lease/take.js';
import type { IdempotencyStore } from '../store.js';
import { idempotencyWarnings, type IdempotencyEvent, type IdempotencyEventSite } from './events.js';
import type { IdempotencyDecision, IdempotencyRequest } from './decision.js';
import { Execution } from './execution.js';
import { replayCommitted } from './transaction.js';
import type { IdempotencyPolicy } from './options.js';
import { ANONYMOUS, outcomeOf, requestFingerprint, scopeOf } from './identity.js';
import { ResultCache, type ResultCacheOption } from './result-cache.js';
import {
  duplicateLocked,
  inProgress,
  keyMissing,
  keyReused,
  notReplayable,
  storeUnavailable,
} from './problems.js';

export {
  describeIdempotencyEvent,
  idempotencyWarnings,
  type IdempotencyEvent,
  type IdempotencyEventSite,
  type IdempotencyDecisionOutcome,
} from './events.js';
export { Execution, replayableHeaders, type CapturedResponse } from './execution.js';
export type { IdempotencyDecision, IdempotencyRequest } from './decision.js';
export { REPLAYED_HEADER } from './respond.js';

export interface IdempotencyEngineOptions {
  /** Prefix of every storage key. Default `tollgate`. */
  namespace?: string;
  /**
   * Hears every event: each request's decision, each store call, and the failures. Default: the
   * failures alone, as warnings on the console, each kind at most every 10 s.
   */
  onEvent?: (event: IdempotencyEvent) => void;
  /** Where the default reporter writes its warnings when no `onEvent` is given. Default the console. */
  warn?: (line: string) => void;
  /**
   * Keep completed results in the process, so a replay costs no store call: `true`, or its
   * bounds (`maxEntries`, default 10 000; `maxBytes`, default 16 MiB). Needs a store that announces
   * removed records (RedisStore, QuorumStore). Default off: see docs/guarantees.md for what it
   * keeps and what it cannot see.
   */
  resultCache?: ResultCacheOption;
}

/**
 * Decides what each request does: run once, replay, or be refused. It holds no framework
 * knowledge: the adapters describe the request, run the handler and capture the response.
 */
export class IdempotencyEngine {
  private readonly namespace: string;
  private readonly onEvent: (event: IdempotencyEvent) => void;
  /**
   * Whether the application listens to every event. Without a listener no decision or store-call
   * event is built and no store call is timed: the default reporter only hears failures.
   */
  private readonly listening: boolean;
  private readonly cache: ResultCache | undefined;

  constructor(
    private readonly store: IdempotencyStore,
    options: IdempotencyEngineOptions = {},
  ) {
    this.namespace = validateNamespace(options.namespace ?? 'tollgate');
    this.listening = options.onEvent !== undefined;
    this.onEvent = neverThrows(
      options.onEvent ?? idempotencyWarnings(options.warn ?? consoleWarning),
    );
    this.cache = options.resultCache
      ? new ResultCache(options.resultCache, store.invalidations?.())
      : undefined;
  }

  /**
   * Decides what this request does: every store failure is a decision. It rejects only for what
   * is no decision at all, an error other than `StoreUnavailableError` (a bug, in the app's code
   * or a custom store's).
   */
  async begin(
    request: IdempotencyRequest,
    policy: IdempotencyPolicy,
  ): Promise<IdempotencyDecision> {
    const site: IdempotencyEventSite = {
      area: 'idempotency',
      route: request.route,
      method: request.method,
    };
    const observe = this.listening ? this.storeCallObserver(site) : undefined;
    let decision: IdempotencyDecision;
    try {
      decision = await this.decide(request, policy, site, observe);
    } catch (error) {
      if (error instanceof TollgateHttpError) {
        decision = { action: 'reject', error };
      } else {
        const cause = toError(error);
        if (!(cause instanceof StoreUnavailableError)) throw cause;
        this.onEvent({
          area: 'idempotency',
          route: site.route,
          method: site.method,
          type: 'store-unavailable',
          policy: policy.onStoreUnavailable,
          error: cause,
        });
        decision =
          policy.onStoreUnavailable === 'allow'
            ? { action: 'bypass', reason: 'store-unavailable' }
            : { action: 'reject', error: storeUnavailable() };
      }
    }
    return this.reported(site, policy, decision);
  }

  /**
   * A request refused before it could be described (a user the scope cannot identify): reported
   * as its decision like every other request, so every protected request has exactly one.
   */
  refuse(
    route: string,
    method: string,
    policy: IdempotencyPolicy,
    error: TollgateHttpError,
  ): IdempotencyDecision {
    return this.reported({ area: 'idempotency', route, method }, policy, {
      action: 'reject',
      error,
    });
  }

  /** Reports the decision, when someone listens, as the one `decision` event of the request. */
  private reported(
    site: IdempotencyEventSite,
    policy: IdempotencyPolicy,
    decision: IdempotencyDecision,
  ): IdempotencyDecision {
    if (this.listening) {
      // Literals with every field, not spreads: one object shape, cheap to build on every request.
      this.onEvent({
        area: 'idempotency',
        route: site.route,
        method: site.method,
        type: 'decision',
        outcome: outcomeOf(decision),
        strategy: policy.strategy,
        code: decision.action === 'reject' ? decision.error.code : undefined,
      });
    }
    return decision;
  }

  /** Reports each store call of one request, with its route: made only when someone listens. */
  private storeCallObserver(site: IdempotencyEventSite): StoreCallObserver {
    const { route, method } = site;
    return (operation, durationMs, error) =>
      this.onEvent({
        area: 'idempotency',
        route,
        method,
        type: 'store-call',
        operation,
        durationMs,
        ok: error === undefined,
        error,
      });
  }

  private async decide(
    request: IdempotencyRequest,
    policy: IdempotencyPolicy,
    site: IdempotencyEventSite,
    observe: StoreCallObserver | undefined,
  ): Promise<IdempotencyDecision> {
    const clientKey = parseIdempotencyKey(
      request.header(policy.headerName.toLowerCase()),
      policy.headerName,
    );

    if (policy.strategy === 'lock') {
      const useHeader =
        policy.lockKey === 'header' || (policy.lockKey === 'auto' && clientKey !== undefined);
      if (useHeader && clientKey === undefined) return this.missingKey(policy);
      const identity = useHeader ? `key:${clientKey}` : `fp:${requestFingerprint(request, policy)}`;
      const key = storageKey(this.namespace, 'lock', [
        scopeOf(request, policy),
        request.method,
        request.route,
        identity,
      ]);
      const owner = nextOwnerToken();
      const sentAt = monotonicNow();
      const lock = await takeOrGiveBack(
        this.store,
        'lock',
        key,
        owner,
        policy.storeTimeoutMs,
        () => this.store.lock(key, owner, policy.windowMs),
        observe,
      );
      if (!lock.acquired) return { action: 'reject', error: duplicateLocked(lock.retryAfterMs) };
      // The lock is never released: it expires, so duplicates inside the window are refused.
      // The handler's lease is the window: past it, a duplicate may run.
      const lease = new Lease(lock.fencingToken, sentAt, policy.windowMs);
      return { action: 'proceed', execution: Execution.untracked(lease) };
    }

    let fingerprint: string;
    let key: string;
    let retentionMs: number;
    if (policy.strategy === 'key') {
      // Decided before the body is read: a request without a key on an optional route runs
      // unprotected, whatever its body.
      if (clientKey === undefined) return this.missingKey(policy);
      fingerprint = requestFingerprint(request, policy);
      key = storageKey(this.namespace, 'key', [
        request.scope ?? ANONYMOUS,
        request.method,
        request.route,
        clientKey,
      ]);
      retentionMs = policy.retentionMs;
    } else {
      fingerprint = requestFingerprint(request, policy);
      key = storageKey(this.namespace, 'fp', [scopeOf(request, policy), fingerprint]);
      retentionMs = policy.windowMs;
    }

    const cache = this.cache;
    // A hit is answered a turn later, as the store would be (see `afterThisTurn`), from what the
    // cache holds then: a record forgotten meanwhile is asked for again.
    let cached = cache?.get(key);
    if (cached !== undefined) {
      await afterThisTurn();
      cached = cache?.get(key);
    }
    if (cached !== undefined) {
      return cached.fingerprint === fingerprint
        ? { action: 'replay', response: cached.response }
        : { action: 'reject', error: keyReused(policy.headerName) };
    }
    const waitUntil = monotonicNow() + policy.waitForInFlightMs;
    for (let pause = 25; ; pause = Math.min(pause * 2, 500)) {
      // A new owner for every try: a take refused by a quorum is given back on every node that
      // granted it, also when that grant arrives late (a paused node), and an owner-checked
      // give-back of an earlier try would otherwise free this try's take on that node.
      const owner = nextOwnerToken();
      const ticket = cache?.ticket() ?? 0;
      const sentAt = monotonicNow();
      const found = await takeOrGiveBack(
        this.store,
        'begin',
        key,
        owner,
        policy.storeTimeoutMs,
        () => this.store.begin(key, owner, fingerprint, policy.leaseMs),
        observe,
      );
      switch (found.state) {
        case 'acquired':
          return {
            action: 'proceed',
            execution: new Execution(
              this.store,
              key,
              owner,
              retentionMs,
              policy,
              { site, onEvent: this.onEvent, observe },
              new Lease(found.fencingToken, sentAt, policy.leaseMs),
              cache && { cache, fingerprint },
            ),
          };
        case 'completed':
          if (cache && found.retainedMs !== undefined) {
            cache.remember(key, fingerprint, found.response, found.retainedMs, sentAt, ticket);
          }
          return { action: 'replay', response: found.response };
        case 'committed':
          return replayCommitted(found.result);
        case 'mismatch':
          return { action: 'reject', error: keyReused(policy.headerName) };
        case 'unstorable':
          return { action: 'reject', error: notReplayable(found.reason) };
        case 'in-progress': {
          const left = waitUntil - monotonicNow();
          if (left <= 0) return { action: 'reject', error: inProgress(found.retryAfterMs) };
          await sleep(Math.min(pause, left));
        }
      }
    }
  }

  private missingKey(policy: IdempotencyPolicy): IdempotencyDecision {
    return policy.required
      ? { action: 'reject', error: keyMissing(policy.headerName) }
      : { action: 'bypass', reason: 'no-key' };
  }
}
