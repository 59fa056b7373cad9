import { systemClock, type Clock } from '../../core/clock.js';
import { StoreUnavailableError, TollgateConfigError } from '../../core/errors.js';
import { ExpiringMap } from '../../core/expiring-map.js';
import { assertFencingToken } from '../../core/fencing-token.js';
import { InProcessRateLimiter } from '../../core/ratelimit/in-process.js';
import { copyResponse, recordBytes, type IdempotencyRecord } from './records.js';
import type {
  BeginResult,
  FencingToken,
  LockResult,
  RateLimitConsumeOptions,
  RateLimitResult,
  RateLimitRule,
  StoredResponse,
  StoreHealth,
  TollgateStore,
  UnstorableReason,
} from '../../core/store.js';

/**
 * The memory a `MemoryStore` may hold is bounded twice: by records (`maxKeys`) and by bytes
 * (`maxBytes`), each counted over idempotency records only (rate-limit counters have their own
 * `maxKeys`, and forgetting one only forgets a count).
 *
 * Only finished records (a stored response, or the note that it could not be stored) are evicted,
 * the one written longest ago first, and only when a write would pass a bound. An in-progress
 * lease or a lock is never evicted: it is what keeps a duplicate from running, so evicting it
 * would let one client's flood of fresh keys run another user's request twice.
 *
 * When evicting every finished record would still leave no room, a `begin` or `lock` that would
 * take a new key throws `StoreUnavailableError` (code TOLLGATE_STORE_UNAVAILABLE) and the route's
 * store-unavailable policy decides (503 by default). Completing, renewing and releasing a key
 * already held never fail for lack of room.
 */
export interface MemoryStoreOptions {
  /** Most idempotency records (leases, locks, stored results) held at once. Default 100 000. */
  maxKeys?: number;
  /**
   * Most bytes held by idempotency records, approximately: per record the stored body's bytes,
   * the characters of its header names and values, of the key, owner and fingerprint, and a fixed
   * 256 bytes for the objects around them. Default 64 MiB. A completion may pass it: a lease
   * already granted always finishes (see `complete`).
   */
  maxBytes?: number;
  /** How often one background sweep drops expired records. Default 10 s. */
  sweepIntervalMs?: number;
  /** Time source; tests pass a fake clock. Default `systemClock` (monotonic). */
  clock?: Clock;
}

/** Default `maxKeys`. */
const DEFAULT_MAX_KEYS = 100_000;
/** Default `maxBytes`: 64 MiB. */
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/**
 * A store for one process (tests, local development, single-instance apps) with the same
 * semantics as the Redis store. Expired records are dropped lazily on access, a few per write, and
 * by one unref'd sweep timer: never one timer per key. Bounded as `MemoryStoreOptions` describes.
 */
export class MemoryStore implements TollgateStore {
  readonly kind = 'memory';
  private readonly records: ExpiringMap<IdempotencyRecord>;
  private readonly maxKeys: number;
  private readonly maxBytes: number;
  private readonly clock: Clock;
  private readonly sweeper: NodeJS.Timeout;
  /** Rate-limit counters, apart from idempotency records and bounded by the same `maxKeys`. */
  private readonly rateLimiter: InProcessRateLimiter;
  /** The last fencing token issued for any key: one counter serves every key of this store. */
  private lastToken = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxKeys = bound('maxKeys', options.maxKeys ?? DEFAULT_MAX_KEYS);
    this.maxBytes = bound('maxBytes', options.maxBytes ?? DEFAULT_MAX_BYTES);
    this.records = new ExpiringMap<IdempotencyRecord>(this.maxKeys, {
      maxBytes: this.maxBytes,
      sizeOf: recordBytes,
      // A lease or a lock is a promise that a duplicate will not run: never given up for room.
      evictable: (record) => record.kind === 'completed' || record.kind === 'unstorable',
    });
    this.clock = options.clock ?? systemClock;
    this.rateLimiter = new InProcessRateLimiter({ maxKeys: this.maxKeys, clock: this.clock });
    this.sweeper = setInterval(() => this.sweepExpired(), options.sweepIntervalMs ?? 10_000);
    this.sweeper.unref();
  }

  /** Records currently held, expired ones included until they are swept. */
  get size(): number {
    return this.records.size;
  }

  /** Approximate bytes held by those records, as `MemoryStoreOptions.maxBytes` counts them. */
  get bytes(): number {
    return this.records.bytes;
  }

  async begin(
    key: string,
    owner: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<BeginResult> {
    const record = this.live(key);
    if (!record) {
      const fencingToken = this.nextToken();
      this.take(key, {
        kind: 'in-progress',
        owner,
        fingerprint,
        expiresAt: this.clock.now() + leaseMs,
        fencingToken,
      });
      return { state: 'acquired', fencingToken };
    }
    if (record.kind === 'lock')
      return { state: 'in-progress', retryAfterMs: record.expiresAt - this.clock.now() };
    if (record.fingerprint !== fingerprint) return { state: 'mismatch' };
    switch (record.kind) {
      case 'in-progress':
        if (record.owner === owner) return { state: 'acquired', fencingToken: record.fencingToken };
        return { state: 'in-progress', retryAfterMs: record.expiresAt - this.clock.now() };
      case 'completed':
        return { state: 'completed', response: record.response };
      case 'unstorable':
        return { state: 'unstorable', reason: record.reason };
    }
  }

  async complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    return this.finish(key, owner, retentionMs, {
      kind: 'completed',
      response: copyResponse(response),
    });
  }

  async markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean> {
    return this.finish(key, owner, retentionMs, { kind: 'unstorable', reason });
  }

  /**
   * Turns `owner`'s in-progress record into its finished form, as the Redis scripts do: only the
   * lease holder may, and a re-sent call that already succeeded reports success and changes nothing.
   * Writing evicts finished records to make room; if it still does not fit `maxBytes`, it is stored
   * all the same: a lease already granted must be able to finish, so the byte bound can be passed,
   * by completions in flight only, and no new key is taken until it is back under.
   */
  private finish(
    key: string,
    owner: string,
    retentionMs: number,
    outcome:
      | { kind: 'completed'; response: StoredResponse }
      | { kind: 'unstorable'; reason: UnstorableReason },
  ): boolean {
    const record = this.live(key);
    if (!record || record.kind === 'lock' || record.owner !== owner) return false;
    if (record.kind === outcome.kind) return true;
    if (record.kind !== 'in-progress') return false;
    const { fingerprint } = record;
    const expiresAt = this.clock.now() + retentionMs;
    this.write(key, { ...outcome, owner, fingerprint, expiresAt });
    return true;
  }

  async release(key: string, owner: string): Promise<boolean> {
    const record = this.live(key);
    if (!record || record.owner !== owner) return false;
    if (record.kind !== 'in-progress' && record.kind !== 'lock') return false;
    this.records.delete(key);
    return true;
  }

  /** As on Redis; the store's one counter moves up too, so every later take issues more. */
  async raiseToken(key: string, owner: string, token: FencingToken): Promise<boolean> {
    assertFencingToken(token);
    const record = this.live(key);
    if (!record || (record.kind !== 'in-progress' && record.kind !== 'lock')) return false;
    if (record.owner !== owner) return false;
    record.fencingToken = Math.max(record.fencingToken, token);
    this.lastToken = Math.max(this.lastToken, token);
    return true;
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    const record = this.live(key);
    if (!record || (record.kind !== 'in-progress' && record.kind !== 'lock')) return false;
    if (record.owner !== owner) return false;
    record.expiresAt = this.clock.now() + leaseMs;
    return true;
  }

  async lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    const record = this.live(key);
    if (record?.kind === 'lock' && record.owner === owner)
      return { acquired: true, fencingToken: record.fencingToken };
    if (record) return { acquired: false, retryAfterMs: record.expiresAt - this.clock.now() };
    const fencingToken = this.nextToken();
    this.take(key, { kind: 'lock', owner, expiresAt: this.clock.now() + ttlMs, fencingToken });
    return { acquired: true, fencingToken };
  }

  /** Same semantics as the Redis script: all limits are charged, or none. */
  async consume(
    key: string,
    rules: readonly RateLimitRule[],
    options?: RateLimitConsumeOptions,
  ): Promise<RateLimitResult> {
    return this.rateLimiter.consumeNow(key, rules, false, options?.refundable === true);
  }

  async peek(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    return this.rateLimiter.consumeNow(key, rules, true);
  }

  async adjust(
    key: string,
    rules: readonly RateLimitRule[],
    units: readonly number[],
    charges?: readonly (string | undefined)[],
  ): Promise<void> {
    this.rateLimiter.adjustNow(key, rules, units, charges);
  }

  async reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    this.rateLimiter.resetNow(key, rules);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** Always up: the store is this process's memory. */
  async health(): Promise<StoreHealth> {
    return { status: 'up', latencyMs: 0 };
  }

  /** Above every token issued before, and near the clock in µs: a restarted store goes on above. */
  private nextToken(): FencingToken {
    this.lastToken = Math.max(this.lastToken + 1, Math.floor(this.clock.now() * 1000));
    return this.lastToken;
  }

  /** The record under `key` unless it has expired (an expired one is dropped on the spot). */
  private live(key: string): IdempotencyRecord | undefined {
    return this.records.get(key, this.clock.now());
  }

  /**
   * Takes a free key, evicting finished records if it needs room. Refuses rather than evict a
   * lease or a lock: the engine then applies the route's store-unavailable policy.
   */
  private take(key: string, record: IdempotencyRecord): void {
    if (this.records.trySet(key, record, this.clock.now())) return;
    throw new StoreUnavailableError(
      `MemoryStore is full: in-progress leases and locks, which are never evicted, leave no room ` +
        `for a new key within maxKeys (${this.maxKeys}) and maxBytes (${this.maxBytes}); ` +
        `${this.records.size} records and about ${this.records.bytes} bytes are held. Raise ` +
        `maxKeys or maxBytes for this traffic, or use RedisStore.`,
    );
  }

  /** Writes over a key already held; evicts finished records past a bound, never refuses. */
  private write(key: string, record: IdempotencyRecord): void {
    this.records.set(key, record, this.clock.now());
  }

  private sweepExpired(): void {
    this.records.sweep(this.clock.now());
  }
}

/** A bound must be a positive whole number (or Infinity: no bound); anything else fails at once. */
function bound(name: 'maxKeys' | 'maxBytes', value: number): number {
  if (value === Infinity || (Number.isSafeInteger(value) && value > 0)) return value;
  throw new TollgateConfigError(
    'TOLLGATE_INVALID_MEMORY_BOUND',
    `MemoryStore ${name} is ${String(value)}: give a positive whole number (or Infinity for no bound)`,
  );
}
