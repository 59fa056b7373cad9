import { setTimeout as sleep } from 'node:timers/promises';

import { afterEach, describe, expect, it } from 'vitest';

import { StoreUnavailableError } from '../../src/core/errors.js';
import { MemoryStore, type MemoryStoreOptions } from '../../src/stores/memory/memory-store.js';
import type { BeginResult, LockResult, StoredResponse } from '../../src/core/store.js';
import { FakeClock } from '../helpers/fake-clock.js';

const MiB = 1024 * 1024;
const LEASE_MS = 30_000;
const RETENTION_MS = 24 * 60 * 60 * 1000;

const stores: MemoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const store = new MemoryStore(options);
  stores.push(store);
  return store;
}

const response = (bytes: number): StoredResponse => ({
  status: 201,
  headers: [['content-type', 'application/json']],
  body: new Uint8Array(bytes),
});

/** The fencing token of a take, which must be a whole number. */
function tokenOf(result: BeginResult | LockResult): number {
  const token =
    ('state' in result && result.state === 'acquired') || ('acquired' in result && result.acquired)
      ? result.fencingToken
      : undefined;
  if (!Number.isSafeInteger(token)) throw new Error(`no fencing token: ${JSON.stringify(result)}`);
  return token!;
}

describe('MemoryStore fencing tokens', () => {
  it('issues a greater token on every take of a key: after a release and after the lease ran out', async () => {
    const clock = new FakeClock();
    const store = memoryStore({ clock });
    const first = tokenOf(await store.begin('k', 'a', 'fp', 1_000));
    expect(await store.release('k', 'a')).toBe(true);
    const second = tokenOf(await store.begin('k', 'b', 'fp', 1_000));
    clock.advance(1_000);
    const third = tokenOf(await store.begin('k', 'c', 'fp', 1_000));
    expect(second).toBeGreaterThan(first);
    expect(third).toBeGreaterThan(second);
    // Every token a whole number near the clock in microseconds, below 2^53.
    for (const token of [first, second, third]) {
      expect(Number.isSafeInteger(token)).toBe(true);
      expect(token).toBeGreaterThanOrEqual(Math.floor(1_700_000_000_000 * 1000));
    }
  });

  it('keeps tokens growing when the clock does not move between takes', async () => {
    const store = memoryStore({ clock: new FakeClock() });
    const tokens: number[] = [];
    for (let take = 0; take < 5; take++) {
      tokens.push(tokenOf(await store.begin('k', `owner-${take}`, 'fp', 1_000)));
      await store.release('k', `owner-${take}`);
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
  });

  it('returns the same token to a begin re-sent by the owner that holds the lease', async () => {
    const store = memoryStore({ clock: new FakeClock() });
    const first = tokenOf(await store.begin('k', 'a', 'fp', 5_000));
    await store.begin('other', 'x', 'fp', 5_000);
    expect(await store.begin('k', 'a', 'fp', 5_000)).toEqual({
      state: 'acquired',
      fencingToken: first,
    });
  });

  it('issues greater tokens from a store created later, as after a process restart', async () => {
    const clock = new FakeClock();
    const before = memoryStore({ clock });
    const earlier = [
      tokenOf(await before.begin('k', 'a', 'fp', 5_000)),
      tokenOf(await before.begin('j', 'a', 'fp', 5_000)),
      tokenOf(await before.lock('l', 'a', 5_000)),
    ];
    await before.close();
    clock.advance(1);
    const after = memoryStore({ clock });
    const begun = tokenOf(await after.begin('k', 'b', 'fp', 5_000));
    const locked = tokenOf(await after.lock('l', 'b', 5_000));
    expect(begun).toBeGreaterThan(Math.max(...earlier));
    expect(locked).toBeGreaterThan(begun);
  });

  it('issues lock tokens the same way: greater per take, the same to a lock re-sent by its owner', async () => {
    const clock = new FakeClock();
    const store = memoryStore({ clock });
    const first = tokenOf(await store.lock('l', 'a', 1_000));
    expect(await store.lock('l', 'a', 1_000)).toEqual({ acquired: true, fencingToken: first });
    const refused = await store.lock('l', 'b', 1_000);
    expect(refused).toEqual({ acquired: false, retryAfterMs: 1_000 });
    clock.advance(1_000);
    const second = tokenOf(await store.lock('l', 'b', 1_000));
    expect(second).toBeGreaterThan(first);
  });

  it("release gives back the owner's own lock, never another owner's lock or a finished record", async () => {
    const store = memoryStore({ clock: new FakeClock() });
    const first = tokenOf(await store.lock('l', 'a', 60_000));
    expect(await store.release('l', 'b')).toBe(false);
    expect((await store.lock('l', 'b', 60_000)).acquired).toBe(false);
    expect(await store.release('l', 'a')).toBe(true);
    expect(tokenOf(await store.lock('l', 'b', 60_000))).toBeGreaterThan(first);

    await store.begin('done', 'a', 'fp', 5_000);
    await store.complete('done', 'a', response(10), 60_000);
    expect(await store.release('done', 'a')).toBe(false);
    expect((await store.begin('done', 'b', 'fp', 5_000)).state).toBe('completed');

    await store.begin('unstorable', 'a', 'fp', 5_000);
    await store.markUnstorable('unstorable', 'a', 'streamed', 60_000);
    expect(await store.release('unstorable', 'a')).toBe(false);
    expect((await store.begin('unstorable', 'b', 'fp', 5_000)).state).toBe('unstorable');
  });
});

describe('MemoryStore under a flood of fresh keys', () => {
  it("never evicts another user's in-progress lease; evicts finished records oldest first, then refuses", async () => {
    const clock = new FakeClock();
    const store = memoryStore({ clock, maxKeys: 100 });
    const token = tokenOf(await store.begin('user-a:lease', 'a', 'fp-a', LEASE_MS));
    await store.begin('user-a:result', 'a', 'fp-a', LEASE_MS);
    await store.complete('user-a:result', 'a', response(100), RETENTION_MS);

    // One anonymous client sends 1000 fresh keys, each run to completion.
    for (let i = 0; i < 1_000; i++) {
      await store.begin(`attacker:done:${i}`, 'attacker', 'fp', LEASE_MS);
      expect(
        await store.complete(`attacker:done:${i}`, 'attacker', response(10), RETENTION_MS),
      ).toBe(true);
      expect(store.size).toBeLessThanOrEqual(100);
    }
    // The lease is intact: renewable, and a duplicate is still told it is in progress.
    expect(await store.renew('user-a:lease', 'a', LEASE_MS)).toBe(true);
    expect((await store.begin('user-a:lease', 'intruder', 'fp-a', LEASE_MS)).state).toBe(
      'in-progress',
    );
    expect(await store.begin('user-a:lease', 'a', 'fp-a', LEASE_MS)).toEqual({
      state: 'acquired',
      fencingToken: token,
    });
    // A's stored result was the oldest finished record: the first one evicted for room.
    expect((await store.begin('user-a:result', 'a2', 'fp-a', LEASE_MS)).state).toBe('acquired');
    await store.release('user-a:result', 'a2');
    // The newest finished records are still there to replay.
    expect((await store.begin('attacker:done:999', 'x', 'fp', LEASE_MS)).state).toBe('completed');

    // Now fresh keys that stay in progress: they take the room of finished records, never a lease.
    let taken = 0;
    let refusal: unknown;
    for (let i = 0; i < 1_000; i++) {
      try {
        await store.begin(`attacker:open:${i}`, 'attacker', 'fp', LEASE_MS);
        taken++;
      } catch (error) {
        refusal = error;
        break;
      }
    }
    expect(taken).toBe(99);
    expect(store.size).toBe(100);
    expect(refusal).toBeInstanceOf(StoreUnavailableError);
    expect((refusal as StoreUnavailableError).code).toBe('TOLLGATE_STORE_UNAVAILABLE');
    expect((refusal as Error).message).toMatch(/maxKeys \(100\)/);
    expect((refusal as Error).message).toMatch(/RedisStore/);
    // A lock of a free key is refused the same way.
    await expect(store.lock('attacker:lock', 'attacker', 1_000)).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    // What is already held still works while the store is full: renew, complete, release.
    expect((await store.begin('user-a:lease', 'intruder', 'fp-a', LEASE_MS)).state).toBe(
      'in-progress',
    );
    expect(await store.renew('user-a:lease', 'a', LEASE_MS)).toBe(true);
    expect(await store.complete('user-a:lease', 'a', response(100), RETENTION_MS)).toBe(true);
    expect((await store.begin('user-a:lease', 'intruder', 'fp-a', LEASE_MS)).state).toBe(
      'completed',
    );
    expect(await store.release('attacker:open:0', 'attacker')).toBe(true);
    expect((await store.begin('fresh', 'b', 'fp', LEASE_MS)).state).toBe('acquired');

    // Once the flood's leases run out, their room is free again.
    clock.advance(LEASE_MS);
    for (let i = 0; i < 50; i++) {
      expect((await store.begin(`later:${i}`, 'b', 'fp', LEASE_MS)).state).toBe('acquired');
    }
  });
});

describe('MemoryStore byte bound', () => {
  it('keeps stored responses within maxBytes by evicting the oldest finished records', async () => {
    const store = memoryStore({ clock: new FakeClock(), maxBytes: 8 * MiB });
    for (let i = 0; i < 30; i++) {
      await store.begin(`big:${i}`, 'o', 'fp', LEASE_MS);
      expect(await store.complete(`big:${i}`, 'o', response(MiB), RETENTION_MS)).toBe(true);
      expect(store.bytes).toBeLessThanOrEqual(8 * MiB);
    }
    // Seven 1 MiB responses and their records fit in 8 MiB: the newest seven are kept.
    expect(store.size).toBe(7);
    expect(store.bytes).toBeGreaterThan(7 * MiB);
    for (let i = 23; i < 30; i++) {
      expect((await store.begin(`big:${i}`, 'x', 'fp', LEASE_MS)).state).toBe('completed');
    }
    expect((await store.begin('big:22', 'x', 'fp', LEASE_MS)).state).toBe('acquired');
  });

  it("counts a stored response's body and header bytes", async () => {
    const store = memoryStore({ clock: new FakeClock() });
    await store.begin('k', 'o', 'fp', LEASE_MS);
    const leased = store.bytes;
    expect(leased).toBeGreaterThan('k'.length + 'o'.length + 'fp'.length);
    await store.complete('k', 'o', response(1_000), RETENTION_MS);
    expect(store.bytes - leased).toBe(1_000 + 'content-type'.length + 'application/json'.length);
  });

  it('stores a completion that alone passes maxBytes, since its lease was already granted', async () => {
    const store = memoryStore({ clock: new FakeClock(), maxBytes: MiB });
    await store.begin('huge', 'o', 'fp', LEASE_MS);
    expect(await store.complete('huge', 'o', response(2 * MiB), RETENTION_MS)).toBe(true);
    expect(store.bytes).toBeGreaterThan(2 * MiB);
    const replay = await store.begin('huge', 'x', 'fp', LEASE_MS);
    expect(replay.state).toBe('completed');
    if (replay.state === 'completed') expect(replay.response.body.byteLength).toBe(2 * MiB);
    // It is a finished record like any other: the next new key that needs the room evicts it.
    expect((await store.begin('next', 'o', 'fp', LEASE_MS)).state).toBe('acquired');
    expect(store.bytes).toBeLessThanOrEqual(MiB);
  });

  it('refuses a new key when leases alone fill maxBytes, naming the bound', async () => {
    const store = memoryStore({ clock: new FakeClock(), maxBytes: 4_096 });
    let taken = 0;
    let refusal: unknown;
    for (let i = 0; i < 100; i++) {
      try {
        await store.begin(`lease:${i}`, 'o', 'fp', LEASE_MS);
        taken++;
      } catch (error) {
        refusal = error;
        break;
      }
    }
    expect(taken).toBeGreaterThan(0);
    expect(taken).toBeLessThan(100);
    expect(store.bytes).toBeLessThanOrEqual(4_096);
    expect(refusal).toBeInstanceOf(StoreUnavailableError);
    expect((refusal as Error).message).toMatch(/maxBytes \(4096\)/);
  });

  it('gives bytes back on release, on expiry, and in the background sweep', async () => {
    const clock = new FakeClock();
    const store = memoryStore({ clock, sweepIntervalMs: 5 });
    await store.begin('released', 'o', 'fp', LEASE_MS);
    await store.release('released', 'o');
    expect([store.size, store.bytes]).toEqual([0, 0]);

    await store.begin('read', 'o', 'fp', LEASE_MS);
    await store.complete('read', 'o', response(MiB), 1_000);
    clock.advance(1_000);
    // Expired: dropped when read.
    expect((await store.begin('read', 'x', 'fp', LEASE_MS)).state).toBe('acquired');
    await store.release('read', 'x');
    expect([store.size, store.bytes]).toEqual([0, 0]);

    // Expired and never read again: dropped by the sweep timer.
    for (const key of ['swept-1', 'swept-2']) {
      await store.begin(key, 'o', 'fp', LEASE_MS);
      await store.complete(key, 'o', response(MiB), 1_000);
    }
    expect(store.bytes).toBeGreaterThan(2 * MiB);
    clock.advance(1_000);
    for (let waited = 0; store.bytes > 0 && waited < 2_000; waited += 10) await sleep(10);
    expect([store.size, store.bytes]).toEqual([0, 0]);
  });
});

describe('MemoryStore options', () => {
  it.each([
    ['maxKeys', 0],
    ['maxKeys', -1],
    ['maxKeys', 1.5],
    ['maxBytes', Number.NaN],
    ['maxBytes', 0],
  ] as const)('refuses %s: %s at start-up, naming the option', (name, value) => {
    expect(() => new MemoryStore({ [name]: value })).toThrow(
      expect.objectContaining({
        code: 'TOLLGATE_INVALID_MEMORY_BOUND',
        message: expect.stringContaining(name),
      }),
    );
  });

  it('accepts Infinity as no bound', async () => {
    const store = new MemoryStore({ maxKeys: Infinity, maxBytes: Infinity });
    expect((await store.begin('k', 'o', 'fp', 1_000)).state).toBe('acquired');
    await store.close();
  });
});
