import { systemClock, type Clock } from '../clock.js';
import { ExpiringMap } from '../expiring-map.js';
import { blockKey, ruleKey } from './rule-keys.js';
import type { RateLimitResult, RateLimitRule, RateLimitState, RateLimitStore } from '../store.js';

/**
 * Rate limiting inside one process, with exactly the semantics of the Redis script
 * (src/stores/redis/rate-limit-scripts.ts, RATE_LIMIT): the memory store uses it, and so does a limit whose
 * policy is `local` while the shared store is unreachable. Memory is bounded by `maxKeys`.
 */
export interface InProcessRateLimiterOptions {
  /** Most counters kept at once; past it the least recently written is forgotten. Default 100 000. */
  maxKeys?: number;
  /** Time source; tests pass a fake clock. */
  clock?: Clock;
}

type Counter =
  /** fixed window: units used in the window that ends at `endsAt` */
  | { kind: 'fixed'; used: number; endsAt: number; expiresAt: number }
  /** sliding window: the time of every unit taken, oldest first */
  | { kind: 'sliding'; hits: number[]; expiresAt: number }
  /** token bucket as GCRA: the theoretical arrival time of the next unit */
  | { kind: 'gcra'; tat: number; expiresAt: number }
  /** a block after a rejection */
  | { kind: 'block'; expiresAt: number };

/** Floating-point slack for sums such as 3 x (1000 / 3), which may land a hair above 1000. */
export const GCRA_EPSILON = 1e-6;

/** Phase 1 of a decision: what one limit says, and how to settle it once all limits have spoken. */
interface Evaluated {
  allowed: boolean;
  retryAfterMs: number;
  /** Charges the limit when `charged`, and reports remaining units and reset as they then stand. */
  settle(charged: boolean): { remaining: number; resetMs: number };
}

export class InProcessRateLimiter implements RateLimitStore {
  private readonly counters: ExpiringMap<Counter>;
  private readonly maxKeys: number;
  private readonly clock: Clock;

  constructor(options: InProcessRateLimiterOptions = {}) {
    this.maxKeys = options.maxKeys ?? 100_000;
    this.clock = options.clock ?? systemClock;
    this.counters = new ExpiringMap(this.maxKeys);
  }

  /** Counters currently held, expired ones included until they are swept. */
  get size(): number {
    return this.counters.size;
  }

  async consume(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    return this.consumeNow(key, rules);
  }

  async peek(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    return this.consumeNow(key, rules, true);
  }

  async adjust(
    key: string,
    rules: readonly RateLimitRule[],
    units: readonly number[],
  ): Promise<void> {
    this.adjustNow(key, rules, units);
  }

  async reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    this.resetNow(key, rules);
  }

  /**
   * Synchronous, so the check and the charge cannot interleave with another request. `dry`: decide
   * and report only (`peek`), charging nothing and starting no block.
   */
  consumeNow(key: string, rules: readonly RateLimitRule[], dry = false): RateLimitResult {
    const now = this.clock.now();
    // Phase 1: every limit decides; nothing is charged yet.
    const evaluated = rules.map((rule) => {
      const verdict = this.evaluate(ruleKey(key, rule), rule, now);
      // A block from an earlier rejection outlasts whatever the counter says.
      // Only limits that block (blockMs > 0) look for one, as the Redis script does.
      const blockedFor = rule.blockMs > 0 ? this.blockedFor(key, rule, now) : 0;
      if (blockedFor > 0) {
        verdict.allowed = false;
        verdict.retryAfterMs = Math.max(verdict.retryAfterMs, blockedFor);
      }
      return { rule, verdict, blockedFor };
    });
    const allowed = evaluated.every(({ verdict }) => verdict.allowed);
    // Phase 2: charge every limit, or (rejected) none; then report each as it now stands.
    const limits = evaluated.map(
      ({ rule, verdict, blockedFor: blockedAlready }): RateLimitState => {
        let blockedFor = blockedAlready;
        const settled = verdict.settle(allowed && !dry);
        if (!dry && !allowed && !verdict.allowed && blockedAlready === 0 && rule.blockMs > 0) {
          // Exceeding a limit that has a block duration shuts the client out for that long.
          this.write(`${blockKey(key)}:${rule.name}`, {
            kind: 'block',
            expiresAt: now + rule.blockMs,
          });
          blockedFor = rule.blockMs;
          verdict.retryAfterMs = Math.max(verdict.retryAfterMs, rule.blockMs);
        }
        return {
          name: rule.name,
          allowed: verdict.allowed,
          remaining: blockedFor > 0 ? 0 : Math.max(0, settled.remaining),
          resetMs: Math.max(settled.resetMs, blockedFor),
          retryAfterMs: verdict.retryAfterMs,
        };
      },
    );
    return {
      allowed,
      retryAfterMs: allowed
        ? 0
        : Math.max(...limits.filter((state) => !state.allowed).map((state) => state.retryAfterMs)),
      limits,
    };
  }

  /** See `RateLimitStore.adjust`: the Redis script ADJUST does exactly this. */
  adjustNow(key: string, rules: readonly RateLimitRule[], units: readonly number[]): void {
    const now = this.clock.now();
    rules.forEach((rule, index) => {
      const delta = units[index] ?? 0;
      if (delta === 0) return;
      const id = ruleKey(key, rule);
      const found = this.live(id, now);
      switch (rule.algorithm) {
        case 'fixed-window': {
          const counter = found?.kind === 'fixed' ? found : undefined;
          if (delta > 0) {
            const before = counter?.used ?? 0;
            const taken = Math.min(delta, rule.limit - before);
            if (taken <= 0) return;
            const endsAt = counter?.endsAt ?? now + rule.windowMs;
            this.write(id, { kind: 'fixed', used: before + taken, endsAt, expiresAt: endsAt });
          } else if (counter) {
            const used = counter.used + delta;
            // An emptied counter goes, as the script's does: the next request starts a window.
            if (used <= 0) this.counters.delete(id);
            else this.write(id, { ...counter, used });
          }
          return;
        }
        case 'sliding-window': {
          const hits = found?.kind === 'sliding' ? found.hits : [];
          const firstLive = hits.findIndex((at) => at > now - rule.windowMs);
          hits.splice(0, firstLive === -1 ? hits.length : firstLive);
          if (delta > 0) {
            const taken = Math.min(delta, rule.limit - hits.length);
            if (taken <= 0) return;
            for (let unit = 0; unit < taken; unit++) hits.push(now);
            this.write(id, { kind: 'sliding', hits, expiresAt: now + rule.windowMs });
          } else {
            hits.splice(0, -delta);
            if (hits.length === 0) this.counters.delete(id);
          }
          return;
        }
        case 'token-bucket': {
          const interval = rule.windowMs / rule.limit;
          const tat = Math.max(found?.kind === 'gcra' ? found.tat : now, now);
          const moved =
            delta > 0
              ? Math.min(tat + delta * interval, now + rule.windowMs)
              : Math.max(now, tat + delta * interval);
          if (moved > now) this.write(id, { kind: 'gcra', tat: moved, expiresAt: moved });
          else this.counters.delete(id);
          return;
        }
      }
    });
  }

  /** See `RateLimitStore.reset`. */
  resetNow(key: string, rules: readonly RateLimitRule[]): void {
    for (const rule of rules) {
      this.counters.delete(ruleKey(key, rule));
      this.counters.delete(`${blockKey(key)}:${rule.name}`);
    }
  }

  private evaluate(id: string, rule: RateLimitRule, now: number): Evaluated {
    switch (rule.algorithm) {
      case 'fixed-window':
        return this.fixedWindow(id, rule, now);
      case 'sliding-window':
        return this.slidingWindow(id, rule, now);
      case 'token-bucket':
        return this.tokenBucket(id, rule, now);
    }
  }

  private blockedFor(key: string, rule: RateLimitRule, now: number): number {
    const block = this.live(`${blockKey(key)}:${rule.name}`, now);
    return block ? Math.ceil(block.expiresAt - now) : 0;
  }

  /** The window starts with the first request and lasts `windowMs`; its units all come back at its end. */
  private fixedWindow(id: string, rule: RateLimitRule, now: number): Evaluated {
    const found = this.live(id, now);
    const counter = found?.kind === 'fixed' ? found : undefined;
    let used = counter?.used ?? 0;
    let endsAt = counter?.endsAt;
    const allowed = used + rule.cost <= rule.limit;
    return {
      allowed,
      retryAfterMs: allowed ? 0 : Math.ceil((endsAt ?? now) - now),
      settle: (charged) => {
        if (charged) {
          endsAt ??= now + rule.windowMs;
          used += rule.cost;
          this.write(id, { kind: 'fixed', used, endsAt, expiresAt: endsAt });
        }
        // No window running (nothing charged yet): the quota is whole now.
        return {
          remaining: rule.limit - used,
          resetMs: endsAt === undefined ? 0 : Math.ceil(endsAt - now),
        };
      },
    };
  }

  /**
   * Exact: a unit counts while less than `windowMs` has passed since it was taken, so no window of
   * that length, wherever it starts, ever holds more than `limit` units.
   */
  private slidingWindow(id: string, rule: RateLimitRule, now: number): Evaluated {
    const found = this.live(id, now);
    const hits = found?.kind === 'sliding' ? found.hits : [];
    // Units taken at or before now - window have left it; dropping them charges nothing.
    const firstLive = hits.findIndex((at) => at > now - rule.windowMs);
    hits.splice(0, firstLive === -1 ? hits.length : firstLive);
    const allowed = hits.length + rule.cost <= rule.limit;
    // It fits once the oldest (used + cost - limit) units have left the window.
    const freedAt = hits[hits.length + rule.cost - rule.limit - 1];
    return {
      allowed,
      retryAfterMs: allowed || freedAt === undefined ? 0 : Math.ceil(freedAt + rule.windowMs - now),
      settle: (charged) => {
        if (charged) {
          for (let unit = 0; unit < rule.cost; unit++) hits.push(now);
          this.write(id, { kind: 'sliding', hits, expiresAt: now + rule.windowMs });
        }
        const newest = hits[hits.length - 1];
        // The quota is whole once the newest unit has left the window.
        return {
          remaining: rule.limit - hits.length,
          resetMs: newest === undefined ? 0 : Math.ceil(newest + rule.windowMs - now),
        };
      },
    };
  }

  /**
   * GCRA: a unit comes back every windowMs / limit; the bucket holds `limit` units. The state is the
   * time at which the bucket would be full again (the theoretical arrival time).
   */
  private tokenBucket(id: string, rule: RateLimitRule, now: number): Evaluated {
    const found = this.live(id, now);
    const interval = rule.windowMs / rule.limit;
    // A bucket that filled up in the past carries no debt.
    const tat = Math.max(found?.kind === 'gcra' ? found.tat : now, now);
    const after = tat + rule.cost * interval;
    // Admitted while the debt, this request included, fits in one window (the bucket's size).
    const allowed = after - now <= rule.windowMs + GCRA_EPSILON;
    return {
      allowed,
      retryAfterMs: allowed ? 0 : Math.ceil(after - rule.windowMs - now),
      settle: (charged) => {
        if (charged) this.write(id, { kind: 'gcra', tat: after, expiresAt: after });
        const held = charged ? after : tat;
        return {
          remaining: Math.floor((rule.windowMs - (held - now)) / interval + GCRA_EPSILON),
          resetMs: Math.ceil(held - now),
        };
      },
    };
  }

  /** The counter under `id` unless it has expired (an expired one is dropped on the spot). */
  private live(id: string, now: number): Counter | undefined {
    return this.counters.get(id, now);
  }

  private write(id: string, counter: Counter): void {
    this.counters.set(id, counter, this.clock.now());
  }
}
