import { type Clock } from '../clock.js';
import type { RateLimitResult, RateLimitRule, RateLimitStore } from '../../stores/store.js';
/**
 * Rate limiting inside one process, with exactly the semantics of the Redis script
 * (src/stores/redis/scripts.ts, RATE_LIMIT): the memory store uses it, and so does a limit whose
 * policy is `local` while the shared store is unreachable. Memory is bounded by `maxKeys`.
 */
export interface InProcessRateLimiterOptions {
    /** Most counters kept at once; past it the least recently written is forgotten. Default 100 000. */
    maxKeys?: number;
    /** Time source; tests pass a fake clock. */
    clock?: Clock;
}
/** Floating-point slack for sums such as 3 x (1000 / 3), which may land a hair above 1000. */
export declare const GCRA_EPSILON = 0.000001;
export declare class InProcessRateLimiter implements RateLimitStore {
    private readonly counters;
    private readonly maxKeys;
    private readonly clock;
    constructor(options?: InProcessRateLimiterOptions);
    /** Counters currently held, expired ones included until they are swept. */
    get size(): number;
    consume(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult>;
    /** Synchronous, so the check and the charge cannot interleave with another request. */
    consumeNow(key: string, rules: readonly RateLimitRule[]): RateLimitResult;
    private evaluate;
    private blockedFor;
    /** The window starts with the first request and lasts `windowMs`; its units all come back at its end. */
    private fixedWindow;
    /**
     * Exact: a unit counts while less than `windowMs` has passed since it was taken, so no window of
     * that length, wherever it starts, ever holds more than `limit` units.
     */
    private slidingWindow;
    /**
     * GCRA: a unit comes back every windowMs / limit; the bucket holds `limit` units. The state is the
     * time at which the bucket would be full again (the theoretical arrival time).
     */
    private tokenBucket;
    /** The counter under `id` unless it has expired (an expired one is dropped on the spot). */
    private live;
    private write;
}
//# sourceMappingURL=in-process.d.ts.map