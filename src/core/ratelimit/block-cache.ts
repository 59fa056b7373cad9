import type { Clock } from '../clock.js';
import { TollgateConfigError, type TollgateHttpError } from '../errors.js';
import { cacheBounds, LocalCache, type LocalCacheOptions } from '../local-cache.js';
import type { RateLimitResult, RateLimitRule, RecordInvalidations } from '../store.js';
import { decide, type RateLimitDecision } from './decision.js';
import type { ThrottlePolicy } from './options.js';

/** Bounds of the cache of refused clients: `true` for the defaults. */
export type BlockCacheOption = boolean | LocalCacheOptions;

const DEFAULTS = { maxEntries: 10_000, maxBytes: 4 * 1024 * 1024 };

/** What one refused client costs beyond its key: the objects and the map entry. */
const ENTRY_OVERHEAD_BYTES = 192;

/**
 * How long before the store would admit the client again the cache stops refusing it: enough for
 * the app's and the store's clocks to run at slightly different rates (1 %), at least 5 ms.
 */
const marginMs = (ms: number): number => Math.max(5, Math.ceil(ms / 100));

interface Refusal {
  /** The rules the client was refused under (the route's own array): another route asks again. */
  rules: readonly RateLimitRule[];
  result: RateLimitResult;
  /**
   * The engine clock's time when the refusal arrived: its times are counted down from here. The
   * store measured them when the call reached it, after it was sent (`askedAt`, which bounds how
   * long the refusal is kept) and before it arrived, so counting down from `askedAt` would tell
   * the client a time earlier than the store's by up to a round trip.
   */
  answeredAt: number;
  /** The error the client was last refused with from here, given again while it reads the same. */
  error: TollgateHttpError | undefined;
}

/**
 * Clients the store refused, kept in the process so that their next requests are refused without
 * asking it, until the moment the store said it would admit them again at the earliest. The rules,
 * all here:
 *
 * - Only refusals the store vouches for (`refusedForMs`): until then a request with the same rules
 *   is refused by the store whatever happens, unless the client is reset or given units back, and
 *   every store that can say so announces those (see `RecordInvalidations`). Requests of other
 *   clients, or of this one elsewhere, only make it stricter.
 * - Only under the same rules (the same route's limits, not per-request ones): another route may
 *   count differently.
 * - Never past that moment (from when the refusing call was sent, less a margin for the clocks);
 *   never while the store's feed of announcements is unconfirmed (see `LocalCache`).
 */
export class BlockCache {
  private readonly cache: LocalCache<Refusal>;

  constructor(
    option: BlockCacheOption,
    feed: RecordInvalidations | undefined,
    private readonly clock: Clock,
  ) {
    if (feed === undefined) {
      throw new TollgateConfigError(
        'TOLLGATE_STORE_CANNOT_INVALIDATE',
        'blockCache needs a store that announces reset clients to every process (RedisStore); this store does not, so a reset client could stay refused: leave blockCache off',
      );
    }
    const bounds = cacheBounds('blockCache', option === true ? {} : option || {}, DEFAULTS);
    this.cache = new LocalCache(bounds, feed, () => clock.now());
  }

  ticket(): number {
    return this.cache.ticket();
  }

  /** Whether `key` is refused here under `rules` now (see `refuse`). */
  holds(key: string, rules: readonly RateLimitRule[]): boolean {
    return this.cache.get(key)?.rules === rules;
  }

  /**
   * The decision for a request of `key` under `policy`'s own `rules` when the cache refuses it:
   * the refusal's times counted down to now; `undefined` when the store must be asked.
   */
  refuse(
    key: string,
    rules: readonly RateLimitRule[],
    policy: ThrottlePolicy,
  ): RateLimitDecision | undefined {
    const refusal = this.cache.get(key);
    if (refusal === undefined || refusal.rules !== rules) return undefined;
    const decision = decide(
      policy,
      countedDown(refusal, this.clock.now()),
      rules,
      key,
      refusal.error,
    );
    if (decision.action === 'reject') refusal.error = decision.error;
    return decision;
  }

  /** The store refused `key` under `rules`, in a call sent at `askedAt`. */
  remember(
    key: string,
    rules: readonly RateLimitRule[],
    result: RateLimitResult,
    askedAt: number,
    ticket: number,
  ): void {
    const refusedForMs = result.refusedForMs;
    if (result.allowed || refusedForMs === undefined || refusedForMs <= 0) return;
    const bytes = ENTRY_OVERHEAD_BYTES + key.length + result.limits.length * 96;
    const expiresAt = askedAt + refusedForMs - marginMs(refusedForMs);
    const answeredAt = this.clock.now();
    this.cache.set(key, { rules, result, answeredAt, error: undefined }, expiresAt, bytes, ticket);
  }

  /** This process reset or gave units back to `key`: its refusal goes now, before the announcement. */
  forget(key: string): void {
    this.cache.forget(key);
  }
}

/** The refused result with its times counted down to `now`. */
function countedDown(refusal: Refusal, now: number): RateLimitResult {
  const elapsed = now - refusal.answeredAt;
  const { result } = refusal;
  return {
    allowed: false,
    retryAfterMs: Math.max(1, Math.ceil(result.retryAfterMs - elapsed)),
    limits: result.limits.map((state) => ({
      name: state.name,
      allowed: state.allowed,
      remaining: state.remaining,
      resetMs: Math.max(0, Math.ceil(state.resetMs - elapsed)),
      retryAfterMs: state.allowed ? 0 : Math.max(1, Math.ceil(state.retryAfterMs - elapsed)),
    })),
  };
}
