import { type Clock } from '../../core/clock.js';
import type { BeginResult, LockResult, RateLimitResult, RateLimitRule, StoredResponse, TollgateStore, UnstorableReason } from '../store.js';
export interface MemoryStoreOptions {
    /** Most records kept at once; past it the oldest record is evicted. Default 100 000. */
    maxKeys?: number;
    /** How often one background sweep drops expired records. Default 10 s. */
    sweepIntervalMs?: number;
    /** Time source; tests pass a fake clock. Default `Date.now`. */
    clock?: Clock;
}
/**
 * A store for one process (tests, local development, single-instance apps) with the same
 * semantics as the Redis store. Expired records are dropped lazily on access, a few per write, and
 * by one unref'd sweep timer: never one timer per key.
 */
export declare class MemoryStore implements TollgateStore {
    readonly kind = "memory";
    private readonly records;
    private readonly maxKeys;
    private readonly clock;
    private readonly sweeper;
    /** Rate-limit counters, apart from idempotency records and bounded by the same `maxKeys`. */
    private readonly rateLimiter;
    constructor(options?: MemoryStoreOptions);
    /** Records currently held, expired ones included until they are swept. */
    get size(): number;
    begin(key: string, owner: string, fingerprint: string, leaseMs: number): Promise<BeginResult>;
    complete(key: string, owner: string, response: StoredResponse, retentionMs: number): Promise<boolean>;
    markUnstorable(key: string, owner: string, reason: UnstorableReason, retentionMs: number): Promise<boolean>;
    release(key: string, owner: string): Promise<boolean>;
    renew(key: string, owner: string, leaseMs: number): Promise<boolean>;
    lock(key: string, ttlMs: number): Promise<LockResult>;
    /** Same semantics as the Redis script: all limits are charged, or none. */
    consume(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult>;
    close(): Promise<void>;
    /** The record under `key` unless it has expired (an expired one is dropped on the spot). */
    private live;
    private write;
    private sweepExpired;
}
//# sourceMappingURL=memory-store.d.ts.map