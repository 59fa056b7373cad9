import type { BeginResult, LockResult, RateLimitResult, RateLimitRule, StoredResponse, TollgateStore, UnstorableReason } from '../store.js';
export interface QuorumStoreOptions {
    /** Independent stores, typically `RedisStore`s on separate Redis deployments: 3 or 5. */
    stores: readonly TollgateStore[];
    /** Deadline for each node's answer; a slower node counts as unavailable. Default 500 ms. */
    nodeTimeoutMs?: number;
}
/**
 * Idempotency that survives the loss of a minority of Redis nodes without running a request twice.
 *
 * One Redis master replicates asynchronously, so a failover can lose a key it just granted and let a
 * duplicate run. Here every key is taken on independent stores and granted only when a majority
 * granted it; a node that restarts empty, or is replaced, is outvoted by the others. A duplicate is
 * refused as long as a majority of the nodes that took the first request keep their data.
 *
 * Rate limiting is not voted on: it is counted on the first node that answers (a failover may then
 * reset counters), which keeps it one round trip.
 */
export declare class QuorumStore implements TollgateStore {
    readonly kind = "quorum";
    private readonly stores;
    private readonly majority;
    private readonly nodeTimeoutMs;
    constructor(options: QuorumStoreOptions);
    ready(): Promise<void>;
    begin(key: string, owner: string, fingerprint: string, leaseMs: number): Promise<BeginResult>;
    complete(key: string, owner: string, response: StoredResponse, retentionMs: number): Promise<boolean>;
    markUnstorable(key: string, owner: string, reason: UnstorableReason, retentionMs: number): Promise<boolean>;
    release(key: string, owner: string): Promise<boolean>;
    renew(key: string, owner: string, leaseMs: number): Promise<boolean>;
    lock(key: string, ttlMs: number): Promise<LockResult>;
    consume(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult>;
    close(): Promise<void>;
    /** True when a majority confirmed; nodes that failed count as no. */
    private agreed;
    private requireMajority;
    /** Calls every node at once, each under its own deadline; a failure is an answer, not a throw. */
    private onEach;
}
//# sourceMappingURL=quorum-store.d.ts.map