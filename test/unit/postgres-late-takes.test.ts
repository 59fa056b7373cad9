/**
 * The releases that follow a take its request gave up on (`LateTakes`): they run for as long as
 * the take could hold its key, measured on the monotonic clock like every wait in Tollgate.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

import { LateTakes } from '../../src/stores/postgres/late-takes.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('LateTakes', () => {
  it('stops releasing a failed take after two leases, however the wall clock is stepped', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    let releases = 0;
    const takes = new LateTakes(async () => {
      releases++;
      return false; // the take never landed: nothing to free
    });
    let fail: (error: Error) => void = () => undefined;
    const taking = takes.track(
      'key',
      'owner',
      1_000,
      () => new Promise<never>((_, reject) => (fail = reject)),
      () => true,
    );
    takes.abandon('owner');
    fail(new Error('query timeout'));
    await expect(taking).rejects.toThrow('query timeout');
    // The wall clock is stepped back an hour (NTP, a resumed VM): no longer than two leases.
    vi.setSystemTime(Date.now() - 3_600_000);
    await vi.advanceTimersByTimeAsync(10_000);
    const after = releases;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(releases).toBe(after);
    expect(after).toBeGreaterThan(0);
  });
});
