import { retryAfterSeconds, type TollgateHttpError } from '../errors.js';
import type { RateLimitResult, RateLimitRule } from '../store.js';
import { rateLimitHeaders } from './headers.js';
import type { RateLimitRequest, ThrottlePolicy } from './options.js';
import { rateLimited } from './problems.js';

/** What the rate-limit engine decided for one request, and what the adapters act on. */

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
 * A response as the adapters describe it to the core, so the core applies a decision itself:
 * where its headers go, and when it is over.
 */
export interface RateLimitResponse {
  setHeader(name: string, value: string): void;
  /**
   * Calls `done` once, when the response is over: with its status code when it was sent in full,
   * with `undefined` when the client went away first.
   */
  whenDone(done: (statusCode: number | undefined) => void): void;
}

/** A request let through without counting: shared, frozen, one object shape with the others. */
export const ALLOW_UNCOUNTED: RateLimitDecision = Object.freeze({
  action: 'allow',
  headers: Object.freeze({}) as Record<string, string>,
  result: undefined,
  charge: undefined,
  counted: undefined,
});

/** The outcome of a request the store could not count: the in-process limiter's, or the policy's. */
export function storeDownOutcome(decision: RateLimitDecision): RateLimitDecisionOutcome {
  if (decision.result === undefined) {
    return decision.action === 'allow' ? 'store-unavailable-allowed' : 'store-unavailable-rejected';
  }
  return decision.action === 'allow' ? 'local-allowed' : 'local-throttled';
}

/**
 * The decision for the store's (or the in-process limiter's) result. Every field set here, at
 * once: one object shape per decision, however it is used after. `previous`: the error this
 * client was last refused with under the same limits, given again if it would read the same.
 */
export function decide(
  policy: ThrottlePolicy,
  result: RateLimitResult,
  rules: readonly RateLimitRule[],
  key: string,
  previous?: TollgateHttpError,
): RateLimitDecision {
  const counted = { key, rules };
  if (result.allowed) {
    return {
      action: 'allow',
      headers: policy.headers === 'always' ? rateLimitHeaders(policy, result, rules) : {},
      result,
      charge: undefined,
      counted,
    };
  }
  const headers = policy.headers !== 'never' ? rateLimitHeaders(policy, result, rules) : {};
  const error =
    previous !== undefined && readsAs(previous, result, headers)
      ? previous
      : rateLimited(exhaustedLimits(result), result.retryAfterMs, headers);
  return { action: 'reject', error, result, counted };
}

const exhaustedLimits = (result: RateLimitResult): string[] =>
  result.limits.filter((state) => !state.allowed).map((state) => state.name);

/**
 * Whether `rateLimited` would build `error` again for this result and these headers: the same
 * exhausted limits, the same `Retry-After` and the same header values. The error is immutable and
 * holds nothing of a request, so a client refused again within the same second (from the block
 * cache) can be given the same one, without building an Error, its detail and its headers again.
 */
function readsAs(
  error: TollgateHttpError,
  result: RateLimitResult,
  headers: Readonly<Record<string, string>>,
): boolean {
  const sent = error.headers;
  if (sent['Retry-After'] !== retryAfterSeconds(result.retryAfterMs)) return false;
  for (const name in headers) if (sent[name] !== headers[name]) return false;
  for (const name in sent) if (name !== 'Retry-After' && !(name in headers)) return false;
  const limits = error.extensions.limits as readonly string[];
  let index = 0;
  for (const state of result.limits) {
    if (!state.allowed && limits[index++] !== state.name) return false;
  }
  return index === limits.length;
}

/** What an allowed request keeps until its response is known, when a skip rule may give it back. */
export function chargeOf(
  policy: ThrottlePolicy,
  request: RateLimitRequest,
  counted: RateLimitCounted,
  result: RateLimitResult,
  askedAt: number,
  local: boolean,
): RateLimitCharge {
  return {
    key: counted.key,
    rules: counted.rules,
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

/**
 * Slack for the whole milliseconds the stores report times in (rounded up): a charge is sent back
 * only while it may still count by the engine's clock (the store has the last word).
 */
const REFUND_MARGIN_MS = 2;

/**
 * The units a skip rule gives back once the response is known (negative, per rule), or
 * `undefined` for none: `statusCode` below 400 is a success, 400 and above a failure.
 */
export function unitsToGiveBack(
  charge: RateLimitCharge,
  statusCode: number | undefined,
  now: number,
): number[] | undefined {
  // A client that went away before its answer stays counted: the handler may have done all its
  // work, and giving the units back would let any client run it without limit by hanging up.
  if (statusCode === undefined) return undefined;
  if (statusCode < 400 ? !charge.skipSuccessful : !charge.skipFailed) return undefined;
  const elapsed = now - charge.askedAt;
  const units = charge.rules.map((rule, index) => {
    const state = charge.result.limits[index];
    return state && elapsed + REFUND_MARGIN_MS < state.resetMs ? -rule.cost : 0;
  });
  return units.some((unit) => unit !== 0) ? units : undefined;
}
