/**
 * The store contract. Every store (Redis, in-memory) passes one contract test suite
 * (test/stores/), so the engines can rely on exactly these semantics.
 *
 * Every operation is atomic: a record is written together with its expiry, and every decision is
 * made in one step. Time-to-live values are milliseconds.
 */

/** A response as kept for replay. Headers are already filtered to the allow-list. */
export interface StoredResponse {
  status: number;
  headers: ReadonlyArray<readonly [name: string, value: string]>;
  body: Uint8Array;
}

/** Why a finished response could not be kept: later duplicates are told so and do not run. */
export type UnstorableReason = 'too-large' | 'streamed';

/** What `begin` found, and did. */
export type BeginResult =
  /** The key was free (or expired): the caller now holds the in-progress lease. */
  | { state: 'acquired' }
  /** Another request holds the lease; it runs out in `retryAfterMs` at the latest. */
  | { state: 'in-progress'; retryAfterMs: number }
  /** The key is taken by a request with a different fingerprint. Nothing was changed. */
  | { state: 'mismatch' }
  /** A stored response to replay. */
  | { state: 'completed'; response: StoredResponse }
  /** The first request finished, but its response could not be kept. */
  | { state: 'unstorable'; reason: UnstorableReason };

/** Outcome of a `lock` attempt: a short lock that is never released, only expires. */
export type LockResult = { acquired: true } | { acquired: false; retryAfterMs: number };

export interface IdempotencyStore {
  /**
   * Takes `key` for `owner` with an in-progress lease of `leaseMs`, unless it is held or done.
   * If `owner` already holds the lease (a re-sent call), it reports `acquired` again.
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
  /** Deletes the in-progress record if `owner` still holds it, so a retry runs again. */
  release(key: string, owner: string): Promise<boolean>;
  /** Extends the lease to `leaseMs` from now if `owner` still holds it. */
  renew(key: string, owner: string, leaseMs: number): Promise<boolean>;
  /** `SET key NX` with an expiry of `ttlMs`: a lock that only expires. */
  lock(key: string, ttlMs: number): Promise<LockResult>;
}

/** A store Tollgate can use. Stores own their connections only when they created them. */
export interface TollgateStore extends IdempotencyStore {
  /** A short name for logs and problem details: `redis`, `memory`. */
  readonly kind: string;
  /** Resolves once the store can serve requests (the Redis connection is ready). */
  ready?(): Promise<void>;
  /** Releases what the store created (connections, timers); a client passed in is left open. */
  close?(): Promise<void>;
}

/** Injection token for the store, beside the interface of the same name (as @nestjs/throttler does). */
export const TollgateStore = Symbol.for('tollgate:TollgateStore');
