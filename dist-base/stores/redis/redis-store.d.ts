import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { BeginResult, LockResult, RateLimitResult, RateLimitRule, StoredResponse, TollgateStore, UnstorableReason } from '../store.js';
/**
 * Options for a connection the store opens itself. The request path must never hang on a dead or
 * silent Redis, nor run a write late, so these defaults apply unless overridden: a command deadline
 * of 1 s, no offline queue (fail at once while disconnected), and no silent re-send of commands
 * that were sent but never answered. ioredis's auto-pipelining is off on a single connection: the
 * store batches its own writes there (see `batched()`), which costs less per command and never
 * waits for one batch's replies before sending the next. On Cluster it stays on.
 */
export declare const SAFE_CLIENT_DEFAULTS: {
    readonly commandTimeout: 1000;
    readonly enableOfflineQueue: false;
    readonly autoResendUnfulfilledCommands: false;
    readonly maxRetriesPerRequest: 0;
    readonly connectTimeout: 2000;
    readonly enableAutoPipelining: false;
};
export type RedisStoreOptions = 
/** A client the application already has (standalone, Sentinel or Cluster). It is left open on close. */
{
    client: Redis | Cluster;
    logger?: StoreLogger;
}
/** A `redis://` or `rediss://` URL; the store opens and closes the connection. */
 | {
    url: string;
    options?: RedisOptions;
    logger?: StoreLogger;
}
/** ioredis connection options (standalone or Sentinel); the store opens and closes the connection. */
 | {
    connection: RedisOptions;
    logger?: StoreLogger;
}
/** Cluster start-up nodes; the store opens and closes the connection. */
 | {
    cluster: ClusterNode[];
    options?: ClusterOptions;
    logger?: StoreLogger;
};
export interface StoreLogger {
    warn(message: string): void;
}
/**
 * The store for real deployments: every decision is one Lua script, one round trip. Works on a
 * single node, behind Sentinel and on Cluster (each script touches one key, or keys that share one
 * `{hash tag}`).
 */
export declare class RedisStore implements TollgateStore {
    readonly kind = "redis";
    readonly client: Redis | Cluster;
    private readonly ownsClient;
    constructor(options: RedisStoreOptions);
    ready(): Promise<void>;
    begin(key: string, owner: string, fingerprint: string, leaseMs: number): Promise<BeginResult>;
    /**
     * Whether `begin` is one native command (Redis 7.0 and later): `SET key lease NX PX ms GET` takes
     * a free key, or returns what the key holds, atomically, without running Lua. Redis CPU per
     * `begin` falls to about a third, and a replay's body is never copied inside a script.
     */
    private beginsWithSetGet;
    /** `begin` as `SET NX PX GET`: the record that holds the key, if any, is read here. */
    private beginWithSetGet;
    complete(key: string, owner: string, response: StoredResponse, retentionMs: number): Promise<boolean>;
    markUnstorable(key: string, owner: string, reason: UnstorableReason, retentionMs: number): Promise<boolean>;
    release(key: string, owner: string): Promise<boolean>;
    renew(key: string, owner: string, leaseMs: number): Promise<boolean>;
    lock(key: string, ttlMs: number): Promise<LockResult>;
    consume(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult>;
    /**
     * Runs a script as ioredis's `defineCommand` would, without its wrapper (an extra promise, a
     * closure and two copies of the arguments on every call): the first call on a connection sends
     * the script's text (EVAL), which loads it, and later calls only its SHA1 (EVALSHA). A server
     * that forgot it anyway (`SCRIPT FLUSH`; a Cluster node, whose connections the store does not
     * see) answers NOSCRIPT, and the call is sent again as EVAL.
     */
    private run;
    /** The stream corked now, uncorked by the `setImmediate` that the first command scheduled. */
    private corked;
    private readonly uncork;
    /**
     * The client, its socket corked until the end of this turn of the event loop: every command the
     * store sends while requests are being read in this turn leaves in one socket write, and Redis
     * reads them in one go, as ioredis's auto-pipelining would do, but without its pipeline object
     * per batch and without holding a batch until the previous one is answered. A Cluster client has
     * a socket per node and auto-pipelines instead.
     */
    private batched;
    close(): Promise<void>;
}
//# sourceMappingURL=redis-store.d.ts.map