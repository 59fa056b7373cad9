import type { RateLimitResult, RateLimitState } from '../../core/store.js';
import type { Tally } from './tally.js';

/**
 * After a split vote, each racer retries after a random pause of at least this long, and spread
 * over at least `SPLIT_RETRY_SPREAD_MS` (more when the nodes are far away: see `splitRetryMs`), so
 * that one of them retries alone and wins.
 */
const SPLIT_RETRY_MIN_MS = 50;
const SPLIT_RETRY_SPREAD_MS = 200;

/**
 * The pause before retrying a split vote: random, so racers do not collide again, and spread over
 * at least four times the slowest answer so far, since two racers collide whenever they send
 * within about one round trip of each other.
 */
export function splitRetryMs(tally: Tally<unknown>): number {
  let slowest = 0;
  for (const answer of tally.answers) if (answer?.ok) slowest = Math.max(slowest, answer.ms);
  const spread = Math.max(SPLIT_RETRY_SPREAD_MS, 4 * slowest);
  return Math.round(SPLIT_RETRY_MIN_MS + Math.random() * spread);
}

/**
 * The rate-limit decision of the nodes that agreed on `allowed`, as the strictest of them sees it:
 * the fewest units left, the latest reset and retry, and a limit admits the request only if it did
 * on every one of them.
 */
export function agreed(tally: Tally<RateLimitResult>, allowed: boolean): RateLimitResult {
  let retryAfterMs = 0;
  let limits: RateLimitState[] | undefined;
  for (const answer of tally.answers) {
    if (!answer?.ok || answer.value.allowed !== allowed) continue;
    const result = answer.value;
    retryAfterMs = Math.max(retryAfterMs, result.retryAfterMs);
    if (!limits) {
      limits = result.limits.map((state) => ({ ...state }));
      continue;
    }
    result.limits.forEach((state, index) => {
      const merged = limits?.[index];
      if (!merged) return;
      merged.allowed &&= state.allowed;
      merged.remaining = Math.min(merged.remaining, state.remaining);
      merged.resetMs = Math.max(merged.resetMs, state.resetMs);
      merged.retryAfterMs = Math.max(merged.retryAfterMs, state.retryAfterMs);
    });
  }
  return { allowed, retryAfterMs: allowed ? 0 : retryAfterMs, limits: limits ?? [] };
}
