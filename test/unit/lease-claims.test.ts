/**
 * `LeaseClaims`, the rule under `@Exclusive()`: a lease held across calls, taken again when it was
 * lost, and a call skipped (not failed) while another process holds it or the store is down.
 */
import { describe, expect, it } from 'vitest';

import { LeaseClaims } from '../../src/core/lease/claims.js';
import { ExclusiveLeases } from '../../src/core/lease/exclusive.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { SlowLockStore } from '../helpers/slow-lock-store.js';

/** A store that can be cut off: every lock refused as unreachable while `down`. */
function storeThatFails(): { store: MemoryStore; down: (value: boolean) => void } {
  const store = new MemoryStore();
  let down = false;
  const lock = store.lock.bind(store);
  store.lock = (key, owner, ttlMs) =>
    down ? Promise.reject(new Error('connection refused')) : lock(key, owner, ttlMs);
  return { store, down: (value) => (down = value) };
}

const options = { ttl: '2s' } as const;
const quiet = (): void => undefined;

describe('LeaseClaims', () => {
  it('keeps the lease across calls: the same lease, one take', async () => {
    const claims = new LeaseClaims(new ExclusiveLeases(new MemoryStore()), quiet);
    const first = await claims.current('job', options);
    expect(first?.held).toBe(true);
    expect(await claims.current('job', options)).toBe(first);
    await claims.releaseAll();
  });

  it('calls that overlap share one attempt', async () => {
    const claims = new LeaseClaims(new ExclusiveLeases(new MemoryStore()), quiet);
    const [a, b] = await Promise.all([
      claims.current('job', options),
      claims.current('job', options),
    ]);
    expect(a).toBeDefined();
    expect(b).toBe(a);
    await claims.releaseAll();
  });

  it('skips the call while another process holds the lease', async () => {
    const store = new MemoryStore();
    const holder = new LeaseClaims(new ExclusiveLeases(store), quiet);
    const standby = new LeaseClaims(new ExclusiveLeases(store), quiet);
    expect(await holder.current('job', options)).toBeDefined();
    expect(await standby.current('job', options)).toBeUndefined();
    // Released by its holder (a clean shutdown): the standby takes it at its next call.
    await holder.releaseAll();
    expect(await standby.current('job', options)).toBeDefined();
    await standby.releaseAll();
  });

  it('takes the lease again once it was lost, with a greater fencing token', async () => {
    const claims = new LeaseClaims(new ExclusiveLeases(new MemoryStore()), quiet);
    const first = await claims.current('job', options);
    await first?.release();
    const again = await claims.current('job', options);
    expect(again).not.toBe(first);
    expect(again?.held).toBe(true);
    expect(again?.fencingToken).toBeGreaterThan(first?.fencingToken ?? Infinity);
    await claims.releaseAll();
  });

  it('skips the call when the store cannot be reached, says so, and takes it once it can', async () => {
    const { store, down } = storeThatFails();
    const heard: string[] = [];
    const claims = new LeaseClaims(new ExclusiveLeases(store), (name, error) =>
      heard.push(`${name}: ${error.message}`),
    );
    down(true);
    expect(await claims.current('job', { ...options, storeTimeout: '200ms' })).toBeUndefined();
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatch(/^job: /);
    down(false);
    expect((await claims.current('job', options))?.held).toBe(true);
    await claims.releaseAll();
  });

  it('releases every lease it holds, and a later call takes its lease afresh', async () => {
    const claims = new LeaseClaims(new ExclusiveLeases(new MemoryStore()), quiet);
    const a = await claims.current('a', options);
    const b = await claims.current('b', options);
    await claims.releaseAll();
    expect(a?.held).toBe(false);
    expect(b?.held).toBe(false);
    const again = await claims.current('a', options);
    expect(again).not.toBe(a);
    expect(again?.held).toBe(true);
    await claims.releaseAll();
  });

  it('releases a lease whose take was on its way when releaseAll() ran, and skips that call', async () => {
    const store = new SlowLockStore();
    const claims = new LeaseClaims(new ExclusiveLeases(store), quiet);
    // A tick's take, still on its way when the app shuts down.
    const tick = claims.current('job', options);
    await store.taking;
    await claims.releaseAll();
    store.answer();
    const lease = await tick;
    // The tick does not run after the shutdown, with a lease nobody will release...
    expect(lease).toBeUndefined();
    // ...and the lease is back on the store at once: a standby takes it now, not after ttl.
    const standby = await new ExclusiveLeases(store).tryAcquire('job', options);
    expect(standby).toBeDefined();
    await standby?.release();
  });
});
