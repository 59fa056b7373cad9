/**
 * The store contract: the core's port. Every store (Redis, in-memory) passes one contract test suite
 * (test/stores/), so the engines can rely on exactly these semantics.
 *
 * Every operation is atomic: a record is written together with its expiry, and every decision is
 * made in one step. Time-to-live values are milliseconds.
 */

import type { RecordInvalidations } from './record-invalidations.js';
import type { StoreHealth, StoreHealthOptions } from './store-health.js';

export type { RecordInvalidations } from './record-invalidations.js';
export type { StoreHealth, StoreHealthOptions } from './store-health.js';

/** A response as kept for replay. Headers are already filtered to the allow-list. */
export interface StoredResponse {
  status: number;
  headers: ReadonlyArray<readonly [name: string, value: string]>;
  body: Uint8Array;
}

/** Why a finished response could not be kept: later duplicates are told so and do not run. */
export type UnstorableReason = 'too-large' | 'streamed';

/**
 * A fencing token: a number the store issues atomically with every take of a key, greater than
 * any token issued for that key before. A downstream write that remembers the highest token it
 * has seen for a key can refuse a stale holder (one whose lease ran out while it was stalled).
 * Tokens are whole numbers below 2^53; they start near the store's clock in microseconds, so they
 * keep growing across a store restart.
 */
export type FencingToken = number;

/** What `begin` found, and did. */
export type BeginResult =
  /** The key was free (or expired): the caller now holds the in-progress lease. */
  | { state: 'acquired'; fencingToken: FencingToken }
  /** Another request holds the lease; it runs out in `retryAfterMs` at the latest. */
  | { state: 'in-progress'; retryAfterMs: number }
  /** The key is taken by a request with a different fingerprint. Nothing was changed. */
  | { state: 'mismatch' }
  /**
   * A stored response to replay. `retainedMs`: how much longer the store keeps it, at least, when
   * the store can vouch for it; only then may a process cache it (see `RecordInvalidations`).
   */
  | { state: 'completed'; response: StoredResponse; retainedMs?: number }
  /** The first request finished, but its response could not be kept. */
  | { state: 'unstorable'; reason: UnstorableReason }
  /**
   * The handler's result, committed in the application's own transaction (`StoreTransactions`),
   * before its HTTP response was recorded: the first process stopped in between.
   */
  | { state: 'committed'; result: CommittedResult };

/** Outcome of a `lock` attempt: a short lock that only expires (or is given back by `release`). */
export type LockResult =
  { acquired: true; fencingToken: FencingToken } | { acquired: false; retryAfterMs: number };

/**
 * A handler's result as it is committed together with the handler's own writes: what a retry is
 * answered with when the process stopped after that commit and before its response was recorded.
 */
export interface CommittedResult {
  /** The status the response has (or would have had). */
  status: number;
  /** Headers to send with it (e.g. `Location`), beside `Content-Type: application/json`. */
  headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** The result as JSON text; `undefined` for a handler that returns nothing. */
  json: string | undefined;
}

/** A transaction a store opened on its own database, for `IdempotencyLease.transaction`. */
export interface OpenTransaction {
  /** What the handler's work gets to run its writes on (for PostgreSQL, a `pg` `PoolClient`). */
  readonly client: unknown;
  commit(): Promise<void>;
  /** Rolls back and gives the connection up; never rejects. */
  rollback(): Promise<void>;
}

/**
 * What lets a store keep its record in the application's own database transaction, so that the
 * handler's writes and Tollgate's record commit, or roll back, together.
 */
export interface StoreTransactions {
  /** Opens a transaction on the store's own connection pool. */
  open(): Promise<OpenTransaction>;
  /**
   * Writes `result` as `key`'s committed record inside the open transaction `tx` (one the store
   * opened, or the application's own, in a shape the store recognises), only if `owner` still
   * holds the lease. False, with nothing written, when it does not: the caller rolls back.
   * Until that transaction ends, nobody else can take `key`. Afterwards `complete` (by the same
   * owner) replaces the committed record with the response, and `release` leaves it alone.
   */
  record(
    tx: unknown,
    key: string,
    owner: string,
    result: CommittedResult,
    retentionMs: number,
  ): Promise<boolean>;
  /**
   * `complete` for a request that recorded its result in a transaction: replaces `owner`'s
   * committed record with the response, as `complete` does, but never an in-progress one, which
   * means the transaction that recorded it did not commit (`'not-committed'`: nothing is written).
   * Waits, as every write to the key does, for that transaction to end.
   */
  completeCommitted(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean | 'not-committed'>;
}

export interface IdempotencyStore {
  /**
   * Present on a store that lives in the application's database (`PostgresStore`): the record can
   * commit in the handler's own transaction. Without it, `lease.transaction()` is refused.
   */
  readonly transactions?: StoreTransactions;
  /**
   * Takes `key` for `owner` with an in-progress lease of `leaseMs`, unless it is held or done.
   * If `owner` already holds the lease (a re-sent call), it reports `acquired` again, with the
   * same fencing token. A new take issues a token greater than every earlier one for `key`.
   */
  begin(key: string, owner: string, fingerprint: string, leaseMs: number): Promise<BeginResult>;
  /**
   * Stores the response and keeps it for `retentionMs`, only if `owner` still holds the lease.
   * Returns false if the lease was lost (expired and taken, or released): nothing is written then.
   * Re-sending a completion that already succeeded returns true and changes nothing.
   */
  complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean>;
  /** Records that the response could not be kept, owner-checked like `complete`. */
  markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean>;
  /**
   * Deletes the in-progress record, or the lock, if `owner` still holds it, so a retry runs
   * again. Never touches a finished result or another owner's lease.
   */
  release(key: string, owner: string): Promise<boolean>;
  /**
   * Deletes the record under `key`, whatever it holds (an operator removing a result so that the
   * request runs again), and tells every process caching it (see `RecordInvalidations`). The next
   * take's fencing token is still greater than every earlier one. False: there was none.
   */
  forget?(key: string): Promise<boolean>;
  /**
   * The store's announcements of removed records and reset clients (see `RecordInvalidations`),
   * which the local caches need; started on the first call, and one for the store however often
   * it is called.
   */
  invalidations?(): RecordInvalidations;
  /**
   * Raises the fencing token of the take `owner` holds on `key` (an in-progress lease or a lock)
   * to `token` if it is lower, as if the store had issued it: a re-sent take reports it, and the
   * key's next take, after a release or a `forget`, issues a greater one. Never lowers a token;
   * keeps the expiry. False, with nothing written, when `owner` does not hold `key`. Required of
   * a `QuorumStore`'s nodes: each that granted a take learns the majority's largest token, so a
   * later majority, which shares a node with this one, issues a greater one whatever the clocks.
   */
  raiseToken?(key: string, owner: string, token: FencingToken): Promise<boolean>;
  /** Extends the lease (or the lock: an exclusive lease) to `leaseMs` from now if `owner` still holds it. */
  renew(key: string, owner: string, leaseMs: number): Promise<boolean>;
  /**
   * `SET key NX` with an expiry of `ttlMs`, held by `owner`: a lock that only expires, unless
   * its owner gives it back with `release` (a take that answered too late to be used). Re-sent
   * by the same owner while held, it reports `acquired` again with the same token.
   */
  lock(key: string, owner: string, ttlMs: number): Promise<LockResult>;
}

/** The ways a rate limit counts, one list for the type and for the checks of the options. */
export const RATE_LIMIT_ALGORITHMS = ['fixed-window', 'sliding-window', 'token-bucket'] as const;

/** How a rate limit counts. */
export type RateLimitAlgorithm = (typeof RATE_LIMIT_ALGORITHMS)[number];

/** One named limit as a store applies it; the engine has already validated every value. */
export interface RateLimitRule {
  /** Unique within one call; part of the limit's storage key. Letters, digits, `_`, `.` and `-`. */
  name: string;
  /** Units allowed per window (a positive whole number). */
  limit: number;
  /** The window, or for `token-bucket` the time an empty bucket takes to refill completely. */
  windowMs: number;
  algorithm: RateLimitAlgorithm;
  /** Units this request takes: a whole number from 1 to `limit`. */
  cost: number;
  /** After this limit rejects a request, every request is rejected for this long. 0: no block. */
  blockMs: number;
}

/** What one limit says about one request. */
export interface RateLimitState {
  name: string;
  /** Whether this limit, on its own, admits the request. */
  allowed: boolean;
  /** Units left once this decision is applied. */
  remaining: number;
  /** Ms until this limit's whole quota is back, if nothing more is taken. */
  resetMs: number;
  /** Ms until this limit would admit the same request (never earlier); 0 when it admits it. */
  retryAfterMs: number;
  /**
   * What this request's charge on this limit was counted in, when `consume` was asked for it
   * (`refundable`) and charged the request: its fixed window, its own sliding-window units, its
   * token bucket. Opaque; handed back to `adjust` so a give-back lands only there.
   */
  charge?: string | undefined;
}

/** How `consume` is asked. */
export interface RateLimitConsumeOptions {
  /**
   * The request's units may be given back later (a skip rule): report each limit's `charge`. Off,
   * the store need not spend anything on it.
   */
  refundable?: boolean | undefined;
}

/** One atomic decision over all limits of a request. */
export interface RateLimitResult {
  /** True: every limit admitted the request and each was charged. False: none was charged. */
  allowed: boolean;
  /** When rejected: ms until every limit would admit the request, never earlier. 0 when allowed. */
  retryAfterMs: number;
  /**
   * When rejected, and the store can vouch for it: for how many ms it refuses this request again
   * whatever other requests do, unless the client is reset or given units back (which the store
   * then announces: see `RecordInvalidations`). Only then may a process refuse it locally.
   */
  refusedForMs?: number;
  /** One state per rule, in the order of the rules. */
  limits: RateLimitState[];
}

export interface RateLimitStore {
  /**
   * Checks every rule and charges all of them, or none: a request rejected by any rule consumes
   * from none. `key` is a storage key with a `{hash tag}`; the store derives one key per rule from
   * it (so all of them share the tag, and one script can touch them on Redis Cluster). Time is
   * the store's own clock.
   */
  consume(
    key: string,
    rules: readonly RateLimitRule[],
    options?: RateLimitConsumeOptions,
  ): Promise<RateLimitResult>;
  /**
   * What `consume` would answer now, changing nothing: no unit is taken and no block started.
   * `allowed` says whether a request costing each rule's `cost` would pass.
   */
  peek(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult>;
  /**
   * Takes `units[i]` units from rule i (a penalty) or, when negative, gives that many back (a
   * reward, or a refund of a request that should not count), whatever the limit says, in one
   * atomic step. A block is neither started nor lifted. Taken units count as a request's would
   * (sliding window: taken now; fixed window: in the running window, or one started now; token
   * bucket: added to the debt), except that a penalty never reaches further than one window: it
   * at most empties the quota. Given-back units never take a limit below empty; on a sliding window
   * they are the oldest units still in the window, so the window never admits earlier than if
   * the request's own units had been given back.
   *
   * `charges[i]`, when given with units to give back, is rule i's `charge` from the `consume`
   * that took them (a refund): they are given back only from what that charge was counted in, and
   * only while it still counts, in the same atomic step. The same fixed window (not one started
   * since, nor a reset's fresh counter); the request's own sliding-window units still in the
   * window (those, not the oldest); the same token bucket (not one refilled or reset since).
   * Otherwise nothing is given back on that rule: the units already left with what they were
   * counted in.
   */
  adjust(
    key: string,
    rules: readonly RateLimitRule[],
    units: readonly number[],
    charges?: readonly (string | undefined)[],
  ): Promise<void>;
  /** Forgets every rule's state and block under `key`: the client starts afresh. */
  reset(key: string, rules: readonly RateLimitRule[]): Promise<void>;
}

/** A store Tollgate can use. Stores own their connections only when they created them. */
export interface TollgateStore extends IdempotencyStore {
  /**
   * Rate limiting (see `RateLimitStore`). Both built-in stores implement it. Optional so that a
   * store written for idempotency alone still type-checks; throttling refuses such a store at
   * start-up with TOLLGATE_STORE_CANNOT_RATE_LIMIT.
   */
  consume?: RateLimitStore['consume'];
  /** See `RateLimitStore`: skip rules that give units back and the rate-limit admin API need them. */
  peek?: RateLimitStore['peek'];
  adjust?: RateLimitStore['adjust'];
  reset?: RateLimitStore['reset'];
  /** A short name for logs and problem details: `redis`, `memory`. */
  readonly kind: string;
  /**
   * Where the store keeps its data, for log lines, with any password hidden:
   * `redis://127.0.0.1:6379`. Absent for a store in this process.
   */
  readonly location?: string;
  /**
   * Resolves once the store can serve requests (the Redis connection is ready). It may never
   * settle while the store stays unreachable: callers bound the wait (see `waitForStore`).
   */
  ready?(): Promise<void>;
  /** While the store cannot serve requests: the last reason it knows (a connection error). */
  connectionProblem?(): string | undefined;
  /** Releases what the store created (connections, timers); a client passed in is left open. */
  close?(): Promise<void>;
  /**
   * Whether the store can serve requests now, answered within `timeoutMs` (never hangs). Every
   * built-in store implements it. Optional so that a store of your own still type-checks: ask
   * through `checkStoreHealth(store)`, which bounds the time and reports such a store `up`.
   */
  health?(options?: StoreHealthOptions): Promise<StoreHealth>;
}

/** Injection token for the store, beside the interface of the same name (as @nestjs/throttler does). */
export const TollgateStore = Symbol.for('tollgate:TollgateStore');
