import { sleep } from '../clock.js';
import { StoreUnavailableError, TollgateHttpError, toError } from '../errors.js';
import { fingerprintRequest, sortedKeys, UNREADABLE_BODY } from '../fingerprint.js';
import { parseIdempotencyKey, storageKey, validateNamespace } from '../keys.js';
import { clientAddress, groupAddress } from '../addresses.js';
import { Lease, monotonicNow } from '../lease/lease.js';
import { consoleWarning, neverThrows, type StoreCallObserver } from '../report.js';
import { nextOwnerToken, takeOrGiveBack } from '../lease/take.js';
import type { IdempotencyStore, StoredResponse } from '../store.js';
import {
  idempotencyWarnings,
  type IdempotencyEvent,
  type IdempotencyEventSite,
  type IdempotencyDecisionOutcome,
} from './events.js';
import { Execution } from './execution.js';
import type { IdempotencyPolicy } from './options.js';
import {
  bodyNotReadable,
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

/** A request as the adapters describe it to the engine: nothing framework-specific. */
export interface IdempotencyRequest {
  method: string;
  /** The route template (`/orders/:id`), or another stable name of the handler. */
  route: string;
  /**
   * Who is asking (principal and tenant, as `scopeKey` writes it), or `undefined` when anonymous.
   * Keys never cross scopes, so no one replays another's result.
   */
  scope: string | undefined;
  /** The TCP peer's address: scopes anonymous requests on `fingerprint` and `lock` routes. */
  remoteAddress?: string | undefined;
  /** A request header by lower-case name. */
  header(name: string): string | readonly string[] | undefined;
  /** A query field by name. */
  query(name: string): string | undefined;
  /** The parsed body (JSON), raw bytes or text, or undefined. */
  body: unknown;
  /**
   * The route's path parameters (`{ id: '1' }` for `/orders/:id`): part of the request's identity,
   * so identical bodies sent to `/devices/1/reports` and `/devices/2/reports` are two requests.
   */
  params?: Readonly<Record<string, unknown>> | undefined;
}

export type IdempotencyDecision =
  /** Run the handler, then report how it ended through `execution`. */
  | { action: 'proceed'; execution: Execution }
  /** Do not run the handler: send this stored response, marked `Idempotent-Replayed: true`. */
  | { action: 'replay'; response: StoredResponse }
  /** Do not run the handler: answer with this problem. */
  | { action: 'reject'; error: TollgateHttpError }
  /** Run the handler without protection: no key was sent where none is required, or the store is down and the route allows it. */
  | { action: 'bypass'; reason: 'no-key' | 'store-unavailable' };

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
}

/** The header a replayed response carries, and the first response never does. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

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

  constructor(
    private readonly store: IdempotencyStore,
    options: IdempotencyEngineOptions = {},
  ) {
    this.namespace = validateNamespace(options.namespace ?? 'tollgate');
    this.listening = options.onEvent !== undefined;
    this.onEvent = neverThrows(
      options.onEvent ?? idempotencyWarnings(options.warn ?? consoleWarning),
    );
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
      const identity = useHeader ? `key:${clientKey}` : `fp:${this.fingerprint(request, policy)}`;
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
      fingerprint = this.fingerprint(request, policy);
      key = storageKey(this.namespace, 'key', [
        request.scope ?? ANONYMOUS,
        request.method,
        request.route,
        clientKey,
      ]);
      retentionMs = policy.retentionMs;
    } else {
      fingerprint = this.fingerprint(request, policy);
      key = storageKey(this.namespace, 'fp', [scopeOf(request, policy), fingerprint]);
      retentionMs = policy.windowMs;
    }

    const owner = nextOwnerToken();
    const waitUntil = monotonicNow() + policy.waitForInFlightMs;
    for (let pause = 25; ; pause = Math.min(pause * 2, 500)) {
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
            ),
          };
        case 'completed':
          return { action: 'replay', response: found.response };
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

  private fingerprint(request: IdempotencyRequest, policy: IdempotencyPolicy): string {
    // Built only when the route names extras or has path parameters: most requests have neither.
    let extra: Array<readonly [string, string | undefined]> | undefined;
    for (const name of policy.fingerprintHeaders) {
      const value = request.header(name);
      (extra ??= []).push([
        `header:${name}`,
        typeof value === 'string' || value === undefined ? value : value.join(', '),
      ]);
    }
    for (const name of policy.fingerprintQuery) {
      (extra ??= []).push([`query:${name}`, request.query(name)]);
    }
    const params = request.params;
    if (params !== undefined) {
      // Own fields only (Object.keys), so a hostile parameter name cannot reach the prototype.
      const names = sortedKeys(params);
      if (names.length > 0) {
        for (const name of names) {
          const value = params[name];
          (extra ??= []).push([
            `param:${name}`,
            typeof value === 'string' ? value : JSON.stringify(value),
          ]);
        }
      }
    }
    let body = request.body;
    if (body === UNREADABLE_BODY) {
      const contentType = request.header('content-type');
      const type = typeof contentType === 'string' ? contentType : undefined;
      // Deduplicating by a body it cannot see would take different requests for one: refuse.
      if (policy.strategy !== 'key') throw bodyNotReadable(type);
      // A key names the operation; without the body, a changed body is only caught by its size.
      body = `unreadable:${type ?? ''}:${String(request.header('content-length') ?? '')}`;
    }
    return fingerprintRequest({
      method: request.method,
      route: request.route,
      body,
      ...(extra ? { extra } : {}),
    });
  }
}

/** The outcome a decision is reported as: one rule, read off the decision the adapters get. */
function outcomeOf(decision: IdempotencyDecision): IdempotencyDecisionOutcome {
  switch (decision.action) {
    case 'proceed':
      return 'first-execution';
    case 'replay':
      return 'replay';
    case 'bypass':
      return decision.reason === 'no-key' ? 'no-key' : 'store-unavailable-allowed';
    case 'reject':
      switch (decision.error.code) {
        case 'TOLLGATE_IN_PROGRESS':
          return 'in-progress';
        case 'TOLLGATE_KEY_REUSED':
          return 'key-reused';
        case 'TOLLGATE_DUPLICATE':
          return 'lock-refused';
        case 'TOLLGATE_NOT_REPLAYABLE':
          return 'not-replayable';
        case 'TOLLGATE_STORE_UNAVAILABLE':
          return 'store-unavailable-rejected';
        default:
          return 'invalid-request';
      }
  }
}

/** The scope of a key strategy's anonymous requests: the client's key alone tells them apart. */
const ANONYMOUS = 'anonymous';

/**
 * The scope of a `fingerprint` or `lock` request: who is asking, and for an anonymous request its
 * client address unless the route shares one scope: two anonymous clients sending the same body
 * are two requests, not a duplicate.
 */
function scopeOf(request: IdempotencyRequest, policy: IdempotencyPolicy): string {
  if (request.scope !== undefined) return request.scope;
  if (policy.anonymousScope === 'shared') return ANONYMOUS;
  const address = clientAddress(
    request.remoteAddress,
    request.header('x-forwarded-for'),
    policy.trustProxy,
  );
  return address === undefined ? ANONYMOUS : `address:${groupAddress(address)}`;
}
