import { describe, expect, it } from 'vitest';

import { ExpiringMap } from '../../src/core/expiring-map.js';

const value = (expiresAt: number) => ({ expiresAt });

describe('ExpiringMap', () => {
  it('evicts the entry written longest ago once past the bound', () => {
    const map = new ExpiringMap<{ expiresAt: number }>(3);
    for (const key of ['a', 'b', 'c']) map.set(key, value(1_000), 0);
    map.set('a', value(1_000), 0); // rewritten: now the newest
    map.set('d', value(1_000), 0);
    expect(map.get('b', 0)).toBeUndefined();
    expect(map.get('a', 0)).toBeDefined();
    expect(map.size).toBe(3);
  });

  it('drops expired entries on read, on write and on sweep', () => {
    const map = new ExpiringMap<{ expiresAt: number }>(100);
    map.set('short', value(10), 0);
    map.set('long', value(1_000), 0);
    expect(map.get('short', 10)).toBeUndefined();
    map.set('other', value(5), 0);
    map.sweep(6);
    expect(map.size).toBe(1);
    expect(map.get('long', 6)).toBeDefined();
  });

  it('skips deleted and rewritten entries when it evicts', () => {
    const map = new ExpiringMap<{ expiresAt: number }>(2);
    map.set('a', value(1_000), 0);
    map.set('b', value(1_000), 0);
    map.delete('a');
    map.set('c', value(1_000), 0);
    map.set('d', value(1_000), 0);
    expect(map.get('b', 0)).toBeUndefined();
    expect([map.get('c', 0), map.get('d', 0)].every(Boolean)).toBe(true);
  });

  it('stays bounded at capacity through a million writes (the old Map-order walk was quadratic here)', () => {
    const map = new ExpiringMap<{ expiresAt: number }>(10_000);
    // A long-lived entry at the front must not let the write queue grow without bound.
    map.set('pinned', value(Number.MAX_SAFE_INTEGER), 0);
    for (let i = 0; i < 1_000_000; i++) {
      map.set(`k${i}`, value(Number.MAX_SAFE_INTEGER), 0);
      if (i % 2 === 0) map.delete(`k${i}`);
    }
    expect(map.size).toBe(10_000);
    expect(map.get('k999999', 0)).toBeDefined();
  });
});

describe('ExpiringMap with entries that may not be evicted, and a byte bound', () => {
  interface Held {
    expiresAt: number;
    pinned: boolean;
    bytes: number;
  }
  const held = (pinned: boolean, bytes = 0, expiresAt = 1_000): Held => ({
    expiresAt,
    pinned,
    bytes,
  });
  const options = (maxBytes?: number) => ({
    maxBytes,
    sizeOf: (_key: string, value: Held) => value.bytes,
    evictable: (value: Held) => !value.pinned,
  });

  it('evicts only evictable entries, oldest first, and stays past the bound when none is left', () => {
    const map = new ExpiringMap<Held>(3, options());
    map.set('pinned-1', held(true), 0);
    map.set('free-1', held(false), 0);
    map.set('free-2', held(false), 0);
    map.set('pinned-2', held(true), 0);
    expect(map.get('free-1', 0)).toBeUndefined();
    expect(map.get('pinned-1', 0)).toBeDefined();
    expect(map.get('free-2', 0)).toBeDefined();
    map.set('pinned-3', held(true), 0);
    map.set('pinned-4', held(true), 0);
    expect(map.size).toBe(4);
    expect(['pinned-1', 'pinned-2', 'pinned-3', 'pinned-4'].every((key) => map.get(key, 0))).toBe(
      true,
    );
  });

  it('never evicts the entry just written, even past the byte bound', () => {
    const map = new ExpiringMap<Held>(10, options(100));
    map.set('old', held(false, 60), 0);
    map.set('big', held(false, 500), 0);
    expect(map.get('old', 0)).toBeUndefined();
    expect(map.get('big', 0)).toBeDefined();
    expect(map.bytes).toBe(500);
  });

  it('trySet refuses, evicting nothing, when evicting every evictable entry would not make room', () => {
    const map = new ExpiringMap<Held>(3, options(100));
    map.set('pinned-1', held(true, 10), 0);
    map.set('pinned-2', held(true, 10), 0);
    map.set('free', held(false, 10), 0);
    expect(map.trySet('too-big', held(true, 90), 0)).toBe(false);
    expect(map.get('free', 0)).toBeDefined();
    // Room by count and by bytes once the evictable entry goes: written, the free one evicted.
    expect(map.trySet('fits', held(true, 80), 0)).toBe(true);
    expect(map.get('free', 0)).toBeUndefined();
    expect([map.size, map.bytes]).toEqual([3, 100]);
    expect(map.trySet('one-more', held(true, 0), 0)).toBe(false);
    // Rewriting a key already held takes no new slot.
    expect(map.trySet('pinned-1', held(true, 0), 0)).toBe(true);
    expect(map.bytes).toBe(90);
  });

  it('trySet makes room from expired entries before it refuses', () => {
    const map = new ExpiringMap<Held>(2, options());
    map.set('a', held(true, 0, 10), 0);
    map.set('b', held(true, 0, 10), 0);
    expect(map.trySet('c', held(true, 0, 100), 5)).toBe(false);
    expect(map.trySet('c', held(true, 0, 100), 10)).toBe(true);
    expect(map.size).toBe(1);
  });

  it('counts bytes through overwrites, deletes, expiry and sweeps', () => {
    const map = new ExpiringMap<Held>(10, options(1_000));
    map.set('a', held(true, 100, 10), 0);
    map.set('b', held(false, 200, 20), 0);
    map.set('a', held(false, 50, 10), 0);
    expect(map.bytes).toBe(250);
    map.delete('b');
    expect(map.bytes).toBe(50);
    expect(map.get('a', 10)).toBeUndefined();
    expect(map.bytes).toBe(0);
    map.set('c', held(true, 30, 10), 0);
    map.sweep(10);
    expect([map.size, map.bytes]).toEqual([0, 0]);
  });

  it('stays O(1) amortised with many entries that may not be evicted at the front', () => {
    const map = new ExpiringMap<Held>(20_000, options());
    for (let i = 0; i < 10_000; i++) map.set(`pinned-${i}`, held(true, 0, Infinity), 0);
    const started = performance.now();
    for (let i = 0; i < 1_000_000; i++) {
      map.set(`k${i}`, held(false, 0, Infinity), 0);
      if (i % 3 === 1) map.delete(`k${i}`);
    }
    // Re-scanning the pinned entries on every eviction would take minutes, even on a quiet
    // machine; a busy one (other test files beside this one) may take a few times the usual second.
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(map.size).toBe(20_000);
    expect(map.get('pinned-0', 0)).toBeDefined();
    expect(map.get('pinned-9999', 0)).toBeDefined();
    expect(map.get('k999999', 0)).toBeDefined();
  });
});
