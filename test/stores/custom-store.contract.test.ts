/**
 * A store written outside Tollgate passes the suites `tollgate/testing` publishes, run as a user
 * would run them: imported from the entry point, with vitest's functions passed in. One store is a
 * small Map written here (idempotency and leases, no rate limiting); the other wraps MemoryStore,
 * as a decorator adding metrics or logging would, and passes every suite.
 */
import { afterAll, describe, expect, it } from 'vitest';

import type {
  BeginResult,
  IdempotencyStore,
  LockResult,
  RateLimitConsumeOptions,
  RateLimitResult,
  RateLimitRule,
  StoredResponse,
  TollgateStore,
  UnstorableReason,
} from '../../src/core/store.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { storeContract } from '../../src/testing.js';
import { FakeClock } from '../helpers/fake-clock.js';

type Entry =
  | { kind: 'lease' | 'lock'; owner: string; fingerprint: string; token: number; until: number }
  | {
      kind: 'done';
      owner: string;
      fingerprint: string;
      until: number;
      outcome: { response: StoredResponse } | { reason: UnstorableReason };
    };

/** An idempotency store in a Map, on a clock of its own: the contract, and nothing more. */
class MapStore implements IdempotencyStore {
  private readonly entries = new Map<string, Entry>();
  private lastToken = 0;

  constructor(private readonly clock: FakeClock) {}

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.until <= this.clock.now()) this.entries.delete(key);
    return this.entries.get(key);
  }

  private nextToken(): number {
    this.lastToken = Math.max(this.lastToken + 1, this.clock.now() * 1_000);
    return this.lastToken;
  }

  private held(key: string, owner: string): Entry | undefined {
    const entry = this.live(key);
    return entry !== undefined && entry.kind !== 'done' && entry.owner === owner
      ? entry
      : undefined;
  }

  async begin(
    key: string,
    owner: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<BeginResult> {
    const entry = this.live(key);
    const now = this.clock.now();
    if (entry === undefined) {
      const token = this.nextToken();
      this.entries.set(key, { kind: 'lease', owner, fingerprint, token, until: now + leaseMs });
      return { state: 'acquired', fencingToken: token };
    }
    if (entry.fingerprint !== fingerprint) return { state: 'mismatch' };
    if (entry.kind === 'done') {
      return 'response' in entry.outcome
        ? { state: 'completed', response: entry.outcome.response }
        : { state: 'unstorable', reason: entry.outcome.reason };
    }
    if (entry.kind === 'lease' && entry.owner === owner) {
      return { state: 'acquired', fencingToken: entry.token };
    }
    return { state: 'in-progress', retryAfterMs: entry.until - now };
  }

  private finish(
    key: string,
    owner: string,
    outcome: Extract<Entry, { kind: 'done' }>['outcome'],
    retentionMs: number,
  ): boolean {
    const entry = this.live(key);
    if (entry?.kind === 'done') return entry.owner === owner;
    if (entry?.kind !== 'lease' || entry.owner !== owner) return false;
    const until = this.clock.now() + retentionMs;
    this.entries.set(key, { kind: 'done', owner, fingerprint: entry.fingerprint, until, outcome });
    return true;
  }

  async complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    const copy = { ...response, body: Uint8Array.from(response.body) };
    return this.finish(key, owner, { response: copy }, retentionMs);
  }

  async markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean> {
    return this.finish(key, owner, { reason }, retentionMs);
  }

  async release(key: string, owner: string): Promise<boolean> {
    return this.held(key, owner) !== undefined && this.entries.delete(key);
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    const entry = this.held(key, owner);
    if (entry !== undefined) entry.until = this.clock.now() + leaseMs;
    return entry !== undefined;
  }

  async lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    const entry = this.live(key);
    const now = this.clock.now();
    if (entry === undefined) {
      const token = this.nextToken();
      this.entries.set(key, { kind: 'lock', owner, fingerprint: '', token, until: now + ttlMs });
      return { acquired: true, fencingToken: token };
    }
    if (entry.kind === 'lock' && entry.owner === owner) {
      return { acquired: true, fencingToken: entry.token };
    }
    return { acquired: false, retryAfterMs: Math.max(1, entry.until - now) };
  }
}

/** A decorator over MemoryStore that counts calls, as a metrics wrapper would. */
class CountingStore implements TollgateStore {
  readonly kind = 'counting';
  readonly calls = new Map<string, number>();
  constructor(private readonly inner: MemoryStore) {}
  private count(operation: string): void {
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
  }
  begin(key: string, owner: string, fingerprint: string, leaseMs: number): Promise<BeginResult> {
    this.count('begin');
    return this.inner.begin(key, owner, fingerprint, leaseMs);
  }
  complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    this.count('complete');
    return this.inner.complete(key, owner, response, retentionMs);
  }
  markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean> {
    this.count('markUnstorable');
    return this.inner.markUnstorable(key, owner, reason, retentionMs);
  }
  release(key: string, owner: string): Promise<boolean> {
    this.count('release');
    return this.inner.release(key, owner);
  }
  renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    this.count('renew');
    return this.inner.renew(key, owner, leaseMs);
  }
  lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    this.count('lock');
    return this.inner.lock(key, owner, ttlMs);
  }
  consume(
    key: string,
    rules: readonly RateLimitRule[],
    options?: RateLimitConsumeOptions,
  ): Promise<RateLimitResult> {
    this.count('consume');
    return this.inner.consume(key, rules, options);
  }
  peek(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    this.count('peek');
    return this.inner.peek(key, rules);
  }
  adjust(
    key: string,
    rules: readonly RateLimitRule[],
    units: readonly number[],
    charges?: readonly (string | undefined)[],
  ): Promise<void> {
    this.count('adjust');
    return this.inner.adjust(key, rules, units, charges);
  }
  reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    this.count('reset');
    return this.inner.reset(key, rules);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const vitest = { describe, it, expect };

const mapClock = new FakeClock();
const mapStore = new MapStore(mapClock);
storeContract(
  vitest,
  'a Map-based store written outside Tollgate',
  () => ({ store: mapStore, elapse: async (ms) => mapClock.advance(ms) }),
  { rateLimiting: false },
);

const wrappedClock = new FakeClock();
const wrapped = new CountingStore(new MemoryStore({ clock: wrappedClock }));
afterAll(() => wrapped.close());
storeContract(vitest, 'a wrapper over MemoryStore', () => ({
  store: wrapped,
  elapse: async (ms) => wrappedClock.advance(ms),
}));

describe('the suites of tollgate/testing', () => {
  it('drove the wrapped store through every capability', () => {
    // Registered above and run before this test: the suites really called the store.
    for (const operation of [
      'begin',
      'complete',
      'markUnstorable',
      'release',
      'renew',
      'lock',
      'consume',
      'peek',
      'adjust',
      'reset',
    ]) {
      expect(wrapped.calls.get(operation) ?? 0, operation).toBeGreaterThan(0);
    }
  });
});
