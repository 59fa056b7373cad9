import type { RateLimitResult, RateLimitRule, RateLimitState } from '../store.js';
import type { ThrottlePolicy } from './options.js';

/**
 * The header fields of draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` states each quota
 * (`q` units per `w` seconds), `RateLimit` its current state (`r` units remaining, `t` seconds
 * until the quota is whole again). Both are structured-field lists (RFC 8941) with one member per
 * named limit, keyed by the limit's name as an sf-string.
 */
export const RATE_LIMIT_POLICY_HEADER = 'RateLimit-Policy';
export const RATE_LIMIT_HEADER = 'RateLimit';

/** `"burst";q=3;w=1, "daily";q=1000;w=86400` */
export function policyHeaderValue(
  limits: ReadonlyArray<{ name: string; limit: number; windowMs: number }>,
): string {
  return limits
    .map((limit) => `${sfString(limit.name)};q=${limit.limit};w=${wholeSeconds(limit.windowMs)}`)
    .join(', ');
}

/** `"burst";r=0;t=1, "daily";r=997;t=86400` */
export function rateLimitHeaderValue(states: readonly RateLimitState[]): string {
  // Built on every allowed request: a loop, not map and join.
  let value = '';
  for (const state of states) {
    if (value !== '') value += ', ';
    value += `${sfString(state.name)};r=${Math.max(0, Math.floor(state.remaining))};t=${wholeSeconds(state.resetMs)}`;
  }
  return value;
}

/**
 * Header fields carry whole seconds. Rounding up keeps every stated time no earlier than the real
 * one, so a client that waits `t` seconds never arrives too soon.
 */
function wholeSeconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000));
}

/** RFC 8941 sf-string: limit names are plain already, but escaping keeps the field valid regardless. */
function sfString(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return `"${value}"`;
  return `"${value.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
}

const NEEDS_ESCAPE = /[\\"]/;

/**
 * The pre-standard `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch
 * seconds, as GitHub and express-rate-limit send it), for clients that read nothing else. They
 * describe one limit: the one with the fewest units left (on a tie, the one that is whole again
 * last), since that is the one a client runs into first.
 */
export function legacyHeaders(
  rules: ReadonlyArray<{ limit: number }>,
  states: readonly RateLimitState[],
  nowMs: number,
): Record<string, string> {
  let tightest = -1;
  for (let index = 0; index < states.length; index++) {
    const state = states[index] as RateLimitState;
    const best = states[tightest];
    if (
      best === undefined ||
      state.remaining < best.remaining ||
      (state.remaining === best.remaining && state.resetMs > best.resetMs)
    ) {
      tightest = index;
    }
  }
  const state = states[tightest];
  const rule = rules[tightest];
  if (state === undefined || rule === undefined) return {};
  return {
    'X-RateLimit-Limit': String(rule.limit),
    'X-RateLimit-Remaining': String(Math.max(0, Math.floor(state.remaining))),
    'X-RateLimit-Reset': String(Math.ceil((nowMs + state.resetMs) / 1000)),
  };
}

/**
 * `RateLimit-Policy` and `RateLimit` for the limits the store checked. Limits it did not check
 * (store down, policy `allow`) are left out of both fields rather than reported with made-up
 * numbers.
 */
export function rateLimitHeaders(
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
export function policyHeaderFor(policy: ThrottlePolicy, rules: readonly RateLimitRule[]): string {
  return rules === policy.rules ? policy.policyHeader : policyHeaderValue(rules);
}
