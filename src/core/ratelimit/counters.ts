import type { RateLimitRule } from '../store.js';

/**
 * The counters of the in-process limiter (in-process.ts), and how each algorithm decides on one:
 * the same semantics as the Redis script (src/stores/redis/rate-limit-scripts.ts, RATE_LIMIT).
 */

/**
 * Counters carry what a refund needs to find its charge (`RateLimitState.charge`): a fixed window
 * and a token bucket their epoch (one per window, one per bucket from empty to full again), a
 * sliding window the charge of each unit.
 */
export type Counter =
  /** fixed window: units used in the window that ends at `endsAt` */
  | { kind: 'fixed'; used: number; endsAt: number; expiresAt: number; epoch: string }
  /** sliding window: the time of every unit taken, oldest first, and the charge it belongs to */
  | { kind: 'sliding'; hits: number[]; charges: string[]; expiresAt: number }
  /** token bucket as GCRA: the theoretical arrival time of the next unit */
  | { kind: 'gcra'; tat: number; expiresAt: number; epoch: string }
  /** a block after a rejection */
  | { kind: 'block'; expiresAt: number };

/** Names epochs and charges: unique within the process, which is all an in-process counter needs. */
let lastCharge = 0;
export function nextCharge(): string {
  lastCharge = (lastCharge + 1) % Number.MAX_SAFE_INTEGER;
  return lastCharge.toString(36);
}

/** Floating-point slack for sums such as 3 x (1000 / 3), which may land a hair above 1000. */
export const GCRA_EPSILON = 1e-6;

/** Phase 1 of a decision: what one limit says, and how to settle it once all limits have spoken. */
export interface Evaluated {
  allowed: boolean;
  retryAfterMs: number;
  /**
   * Charges the limit when `charged`, and reports remaining units and reset as they then stand,
   * and what the charge was counted in.
   */
  settle(charged: boolean): { remaining: number; resetMs: number; charge?: string };
}

/** The window starts with the first request and lasts `windowMs`; its units all come back at its end. */
export function fixedWindow(
  found: Counter | undefined,
  rule: RateLimitRule,
  now: number,
  write: (counter: Counter) => void,
): Evaluated {
  const counter = found?.kind === 'fixed' ? found : undefined;
  let used = counter?.used ?? 0;
  let endsAt = counter?.endsAt;
  const allowed = used + rule.cost <= rule.limit;
  return {
    allowed,
    retryAfterMs: allowed ? 0 : Math.ceil((endsAt ?? now) - now),
    settle: (charged) => {
      let epoch: string | undefined;
      if (charged) {
        endsAt ??= now + rule.windowMs;
        used += rule.cost;
        epoch = counter?.epoch ?? nextCharge();
        write({ kind: 'fixed', used, endsAt, expiresAt: endsAt, epoch });
      }
      // No window running (nothing charged yet): the quota is whole now.
      return {
        remaining: rule.limit - used,
        resetMs: endsAt === undefined ? 0 : Math.ceil(endsAt - now),
        charge: epoch,
      };
    },
  };
}

/**
 * Exact: a unit counts while less than `windowMs` has passed since it was taken, so no window of
 * that length, wherever it starts, ever holds more than `limit` units.
 */
export function slidingWindow(
  found: Counter | undefined,
  rule: RateLimitRule,
  now: number,
  write: (counter: Counter) => void,
): Evaluated {
  const { hits, charges } = liveHits(found, now - rule.windowMs);
  const allowed = hits.length + rule.cost <= rule.limit;
  // It fits once the oldest (used + cost - limit) units have left the window.
  const freedAt = hits[hits.length + rule.cost - rule.limit - 1];
  return {
    allowed,
    retryAfterMs: allowed || freedAt === undefined ? 0 : Math.ceil(freedAt + rule.windowMs - now),
    settle: (charged) => {
      const charge = charged ? nextCharge() : undefined;
      if (charge !== undefined) {
        for (let unit = 0; unit < rule.cost; unit++) {
          hits.push(now);
          charges.push(charge);
        }
        write({ kind: 'sliding', hits, charges, expiresAt: now + rule.windowMs });
      }
      const newest = hits[hits.length - 1];
      // The quota is whole once the newest unit has left the window.
      return {
        remaining: rule.limit - hits.length,
        resetMs: newest === undefined ? 0 : Math.ceil(newest + rule.windowMs - now),
        charge,
      };
    },
  };
}

/**
 * GCRA: a unit comes back every windowMs / limit; the bucket holds `limit` units. The state is the
 * time at which the bucket would be full again (the theoretical arrival time).
 */
export function tokenBucket(
  found: Counter | undefined,
  rule: RateLimitRule,
  now: number,
  write: (counter: Counter) => void,
): Evaluated {
  const interval = rule.windowMs / rule.limit;
  // A bucket that filled up in the past carries no debt, and a charge starts a new epoch.
  const bucket = found?.kind === 'gcra' && found.tat > now ? found : undefined;
  const tat = bucket?.tat ?? now;
  const after = tat + rule.cost * interval;
  // Admitted while the debt, this request included, fits in one window (the bucket's size).
  const allowed = after - now <= rule.windowMs + GCRA_EPSILON;
  return {
    allowed,
    retryAfterMs: allowed ? 0 : Math.ceil(after - rule.windowMs - now),
    settle: (charged) => {
      const epoch = charged ? (bucket?.epoch ?? nextCharge()) : undefined;
      if (epoch !== undefined) write({ kind: 'gcra', tat: after, expiresAt: after, epoch });
      const held = charged ? after : tat;
      return {
        remaining: Math.floor((rule.windowMs - (held - now)) / interval + GCRA_EPSILON),
        resetMs: Math.ceil(held - now),
        charge: epoch,
      };
    },
  };
}

/**
 * A sliding window's units still in it (taken after `since`), oldest first, with their charges:
 * those at or before `since` have left the window, and dropping them charges nothing.
 */
export function liveHits(
  found: Counter | undefined,
  since: number,
): { hits: number[]; charges: string[] } {
  if (found?.kind !== 'sliding') return { hits: [], charges: [] };
  const firstLive = found.hits.findIndex((at) => at > since);
  const gone = firstLive === -1 ? found.hits.length : firstLive;
  found.hits.splice(0, gone);
  found.charges.splice(0, gone);
  return found;
}
