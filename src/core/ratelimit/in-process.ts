import { systemClock, type Clock } from '../clock.js';
import { ExpiringMap } from '../expiring-map.js';
import {
  fixedWindow,
  liveHits,
  nextCharge,
  slidingWindow,
  tokenBucket,
  type Counter,
  type Evaluated,
} from './counters.js';
import { blockKey, ruleKey } from './rule-keys.js';
import type {
  RateLimitConsumeOptions,
  RateLimitResult,
  RateLimitRule,
  RateLimitState,
  RateLimitStore,
} from '../store.js';

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

  async consume(
    key: string,
    rules: readonly RateLimitRule[],
    options?: RateLimitConsumeOptions,
  ): Promise<RateLimitResult> {
    return this.consumeNow(key, rules, false, options?.refundable === true);
  }

  async peek(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    return this.consumeNow(key, rules, true);
  }

  async adjust(
    key: string,
    rules: readonly RateLimitRule[],
    units: readonly number[],
    charges?: readonly (string | undefined)[],
  ): Promise<void> {
    this.adjustNow(key, rules, units, charges);
  }

  async reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    this.resetNow(key, rules);
  }

  /**
   * Synchronous, so the check and the charge cannot interleave with another request. `dry`: decide
   * and report only (`peek`), charging nothing and starting no block. `refundable`: report each
   * limit's charge.
   */
  consumeNow(
    key: string,
    rules: readonly RateLimitRule[],
    dry = false,
    refundable = false,
  ): RateLimitResult {
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
        const state: RateLimitState = {
          name: rule.name,
          allowed: verdict.allowed,
          remaining: blockedFor > 0 ? 0 : Math.max(0, settled.remaining),
          resetMs: Math.max(settled.resetMs, blockedFor),
          retryAfterMs: verdict.retryAfterMs,
        };
        if (refundable && settled.charge !== undefined) state.charge = settled.charge;
        return state;
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
  adjustNow(
    key: string,
    rules: readonly RateLimitRule[],
    units: readonly number[],
    charges: readonly (string | undefined)[] = [],
  ): void {
    const now = this.clock.now();
    rules.forEach((rule, index) => {
      const delta = units[index] ?? 0;
      if (delta === 0) return;
      const id = ruleKey(key, rule);
      const found = this.live(id, now);
      // A refund names its charge: only what it was counted in, while it stands, gives back.
      const refund = delta < 0 ? charges[index] : undefined;
      switch (rule.algorithm) {
        case 'fixed-window': {
          const counter = found?.kind === 'fixed' ? found : undefined;
          if (refund !== undefined && counter?.epoch !== refund) return;
          if (delta > 0) {
            const before = counter?.used ?? 0;
            const taken = Math.min(delta, rule.limit - before);
            if (taken <= 0) return;
            const endsAt = counter?.endsAt ?? now + rule.windowMs;
            const epoch = counter?.epoch ?? nextCharge();
            this.write(id, {
              kind: 'fixed',
              used: before + taken,
              endsAt,
              expiresAt: endsAt,
              epoch,
            });
          } else if (counter) {
            const used = counter.used + delta;
            // An emptied counter goes, as the script's does: the next request starts a window.
            if (used <= 0) this.counters.delete(id);
            else this.write(id, { ...counter, used });
          }
          return;
        }
        case 'sliding-window': {
          const { hits, charges: owners } = liveHits(found, now - rule.windowMs);
          if (delta > 0) {
            const taken = Math.min(delta, rule.limit - hits.length);
            if (taken <= 0) return;
            for (let unit = 0; unit < taken; unit++) {
              hits.push(now);
              owners.push('');
            }
            this.write(id, {
              kind: 'sliding',
              hits,
              charges: owners,
              expiresAt: now + rule.windowMs,
            });
            return;
          }
          if (refund === undefined) {
            hits.splice(0, -delta);
            owners.splice(0, -delta);
          } else {
            // Exactly the request's own units still in the window.
            for (let at = owners.length - 1, left = -delta; at >= 0 && left > 0; at--) {
              if (owners[at] !== refund) continue;
              hits.splice(at, 1);
              owners.splice(at, 1);
              left--;
            }
          }
          if (hits.length === 0) this.counters.delete(id);
          return;
        }
        case 'token-bucket': {
          const bucket = found?.kind === 'gcra' && found.tat > now ? found : undefined;
          if (refund !== undefined && bucket?.epoch !== refund) return;
          const interval = rule.windowMs / rule.limit;
          const tat = bucket?.tat ?? now;
          const moved =
            delta > 0
              ? Math.min(tat + delta * interval, now + rule.windowMs)
              : Math.max(now, tat + delta * interval);
          const epoch = bucket?.epoch ?? nextCharge();
          if (moved > now) this.write(id, { kind: 'gcra', tat: moved, expiresAt: moved, epoch });
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
    const write = (counter: Counter): void => this.write(id, counter);
    switch (rule.algorithm) {
      case 'fixed-window':
        return fixedWindow(this.live(id, now), rule, now, write);
      case 'sliding-window':
        return slidingWindow(this.live(id, now), rule, now, write);
      case 'token-bucket':
        return tokenBucket(this.live(id, now), rule, now, write);
    }
  }

  private blockedFor(key: string, rule: RateLimitRule, now: number): number {
    const block = this.live(`${blockKey(key)}:${rule.name}`, now);
    return block ? Math.ceil(block.expiresAt - now) : 0;
  }

  /** The counter under `id` unless it has expired (an expired one is dropped on the spot). */
  private live(id: string, now: number): Counter | undefined {
    return this.counters.get(id, now);
  }

  private write(id: string, counter: Counter): void {
    this.counters.set(id, counter, this.clock.now());
  }
}
