import { afterEach, describe, expect, it, vi } from 'vitest';

import { TollgateConfigError } from '../../src/core/errors.js';
import { ResultCache } from '../../src/core/idempotency/result-cache.js';
import { cacheBounds, LocalCache } from '../../src/core/local-cache.js';
import type { RecordInvalidations } from '../../src/core/store.js';

/** A feed the test drives: its epoch, and announcements sent by hand. */
function feed(): RecordInvalidations & { announce(key: string): void; epoch: number } {
  const listeners: Array<(key: string) => void> = [];
  return {
    epoch: 1,
    listen: (listener) => void listeners.push(listener),
    announce: (key) => listeners.forEach((listener) => listener(key)),
  };
}

function cache(maxEntries = 100, maxBytes = 10_000) {
  let now = 0;
  const source = feed();
  const local = new LocalCache<string>({ maxEntries, maxBytes }, source, () => now);
  return { local, source, advance: (ms: number) => (now += ms) };
}

describe('LocalCache', () => {
  it('keeps at most maxEntries, dropping the least recently used', () => {
    const { local } = cache(2);
    local.set('a', 'A', 1_000, 10, local.ticket());
    local.set('b', 'B', 1_000, 10, local.ticket());
    expect(local.get('a')).toBe('A');
    local.set('c', 'C', 1_000, 10, local.ticket());
    expect(local.size).toBe(2);
    expect(local.get('b')).toBeUndefined();
    expect(local.get('a')).toBe('A');
    expect(local.get('c')).toBe('C');
  });

  it('keeps at most maxBytes, and never an entry larger than a tenth of them', () => {
    const { local } = cache(100, 1_000);
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f'])
      local.set(key, key, 1_000, 100, local.ticket());
    local.set('g', 'g', 1_000, 100, local.ticket());
    expect(local.heldBytes).toBeLessThanOrEqual(1_000);
    local.set('big', 'big', 1_000, 101, local.ticket());
    expect(local.get('big')).toBeUndefined();
    for (let i = 0; i < 20; i++) local.set(`k${i}`, 'v', 1_000, 100, local.ticket());
    expect(local.heldBytes).toBeLessThanOrEqual(1_000);
    expect(local.size).toBe(10);
  });

  it('never returns an entry past its expiry', () => {
    const { local, advance } = cache();
    local.set('a', 'A', 100, 10, local.ticket());
    advance(99);
    expect(local.get('a')).toBe('A');
    advance(1);
    expect(local.get('a')).toBeUndefined();
  });

  it('forgets an announced key, and refuses an answer that an announcement may have overtaken', () => {
    const { local, source } = cache();
    local.set('a', 'A', 1_000, 10, local.ticket());
    source.announce('a');
    expect(local.get('a')).toBeUndefined();
    const ticket = local.ticket();
    source.announce('b');
    local.set('b', 'B', 1_000, 10, ticket);
    expect(local.get('b')).toBeUndefined();
  });

  it('uses nothing while the feed is unconfirmed, and nothing from an earlier stretch after', () => {
    const { local, source } = cache();
    local.set('a', 'A', 1_000, 10, local.ticket());
    source.epoch = 0;
    expect(local.get('a')).toBeUndefined();
    local.set('b', 'B', 1_000, 10, local.ticket());
    expect(local.get('b')).toBeUndefined();
    local.set('c', 'C', 1_000, 10, local.ticket());
    source.epoch = 2;
    expect(local.get('c')).toBeUndefined();
    expect(local.size).toBe(0);
  });

  it('refuses an answer asked for in an earlier stretch of the feed, however the stretch ended', () => {
    const { local, source } = cache();
    const ticket = local.ticket();
    // The store call is on its way; the subscription drops, the record's removal is announced
    // meanwhile (missed: nobody was listening), and the feed is back in a new stretch before the
    // answer, which the store gave before the removal, arrives.
    source.epoch = 0;
    source.epoch = 2;
    local.set('a', 'A', 1_000, 10, ticket);
    expect(local.get('a')).toBeUndefined();
  });

  it('refuses bounds that are not positive whole numbers', () => {
    expect(() =>
      cacheBounds('resultCache', { maxEntries: 0 }, { maxEntries: 1, maxBytes: 1 }),
    ).toThrow(TollgateConfigError);
    expect(() =>
      cacheBounds('resultCache', { maxBytes: 1.5 }, { maxEntries: 1, maxBytes: 1 }),
    ).toThrow(TollgateConfigError);
  });
});

describe('ResultCache', () => {
  afterEach(() => vi.restoreAllMocks());

  it("stops replaying a day's retention well before the store's clock, 1 % faster, expires it", () => {
    let now = 1_000;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const results = new ResultCache(true, feed());
    const day = 24 * 60 * 60 * 1_000;
    const response = { status: 201, headers: [], body: Buffer.from('{}') };
    results.remember('k', 'fp', response, day, now, results.ticket());
    now += day / 2;
    expect(results.get('k')).toBeDefined();
    // The store's clock ran 1 % fast (as leases and the cache of refused clients allow for): the
    // record is gone there at 99 % of the retention by this process's clock.
    now = 1_000 + day * 0.99;
    expect(results.get('k')).toBeUndefined();
  });
});
