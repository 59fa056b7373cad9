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
