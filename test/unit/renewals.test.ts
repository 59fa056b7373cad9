import { setTimeout as sleep } from 'node:timers/promises';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { safetyMarginMs } from '../../src/core/lease/lease.js';
import { cancelRenewal, scheduleRenewal, type Renewable } from '../../src/core/lease/renewals.js';

/**
 * Real timers, with short leases. The machine may be busy, so the bounds only rely on what a busy
 * machine cannot change: an interval may fire late, never early, so a holder is renewed at most
 * once per period of elapsed time (plus one for a holder added just before a tick).
 */
class Counter implements Renewable {
  count = 0;
  renew(): void {
    this.count++;
  }
}

/** Renewals a holder can have had in `elapsedMs` at one per `periodMs`, at most. */
const mostRenewals = (elapsedMs: number, periodMs: number): number =>
  Math.floor(elapsedMs / periodMs) + 2;

/** Waits until `done()` or `timeoutMs`, polling every few milliseconds. */
async function waitFor(done: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await sleep(5);
}

afterEach(() => {
  vi.restoreAllMocks();
});

// Every test uses its own lease length, so each has its own schedule.
describe('lease renewals', () => {
  it('renews every holder of one lease length repeatedly, at a third of the lease', async () => {
    const leaseMs = 90; // a 30 ms period
    const a = new Counter();
    const b = new Counter();
    const started = Date.now();
    scheduleRenewal(a, leaseMs / 3);
    scheduleRenewal(b, leaseMs / 3);
    await sleep(100);
    await waitFor(() => a.count >= 2);
    const elapsed = Date.now() - started;
    cancelRenewal(a, leaseMs / 3);
    cancelRenewal(b, leaseMs / 3);

    expect(a.count).toBeGreaterThanOrEqual(2);
    expect(a.count).toBeLessThanOrEqual(mostRenewals(elapsed, 30));
    // Both are renewed on the same ticks of the same timer.
    expect(b.count).toBe(a.count);
  });

  it('shares one timer among all holders of one lease length', () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const leaseMs = 3_000;
    const holders = Array.from({ length: 100 }, () => new Counter());
    for (const holder of holders) scheduleRenewal(holder, leaseMs / 3);
    expect(setIntervalSpy.mock.calls.map(([, delay]) => delay)).toEqual([1_000]);
    for (const holder of holders) cancelRenewal(holder, leaseMs / 3);
  });

  it('stops renewing a cancelled holder and keeps renewing the others', async () => {
    const leaseMs = 120; // a 40 ms period
    const cancelled = new Counter();
    const kept = new Counter();
    scheduleRenewal(cancelled, leaseMs / 3);
    scheduleRenewal(kept, leaseMs / 3);
    await waitFor(() => cancelled.count >= 1);
    expect(cancelled.count).toBeGreaterThanOrEqual(1);

    cancelRenewal(cancelled, leaseMs / 3);
    const countAtCancel = cancelled.count;
    const keptAtCancel = kept.count;
    await sleep(150);
    await waitFor(() => kept.count >= keptAtCancel + 2);
    cancelRenewal(kept, leaseMs / 3);

    expect(cancelled.count).toBe(countAtCancel);
    expect(kept.count).toBeGreaterThanOrEqual(keptAtCancel + 2);
  });

  it('renews holders of different lease lengths at their own rates', async () => {
    const fast = new Counter();
    const slow = new Counter();
    const started = Date.now();
    scheduleRenewal(fast, 20);
    scheduleRenewal(slow, 100);
    await sleep(320);
    await waitFor(() => slow.count >= 2);
    const elapsed = Date.now() - started;
    cancelRenewal(fast, 20);
    cancelRenewal(slow, 100);

    expect(slow.count).toBeGreaterThanOrEqual(2);
    expect(slow.count).toBeLessThanOrEqual(mostRenewals(elapsed, 100));
    expect(fast.count).toBeLessThanOrEqual(mostRenewals(elapsed, 20));
    expect(fast.count).toBeGreaterThan(slow.count);
  });

  it('drops the timer of an idle schedule, and starts a new one for the next holder', async () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    const leaseMs = 150; // a 50 ms period
    const first = new Counter();
    scheduleRenewal(first, leaseMs / 3);
    expect(setIntervalSpy).toHaveBeenCalledTimes(1);
    const firstTimer = setIntervalSpy.mock.results[0]?.value as NodeJS.Timeout;
    cancelRenewal(first, leaseMs / 3);

    // The next tick finds no holder and clears the timer.
    await waitFor(() => clearIntervalSpy.mock.calls.some(([timer]) => timer === firstTimer));
    expect(clearIntervalSpy).toHaveBeenCalledWith(firstTimer);
    expect(first.count).toBe(0);

    const next = new Counter();
    scheduleRenewal(next, leaseMs / 3);
    expect(setIntervalSpy).toHaveBeenCalledTimes(2);
    expect(setIntervalSpy.mock.results[1]?.value).not.toBe(firstTimer);
    await waitFor(() => next.count >= 1);
    cancelRenewal(next, leaseMs / 3);
    expect(next.count).toBeGreaterThanOrEqual(1);
  });

  it('ignores a cancel for a lease length that has no schedule', () => {
    expect(() => cancelRenewal(new Counter(), 123_457)).not.toThrow();
  });
});

describe('the lease safety margin', () => {
  // The holder measures its lease on its own clock: if the store's clock runs 1 % faster, the
  // store lets the lease go 1 % early, and the margin must still leave time for the abort to land.
  it('stays over 1 % of the lease by at least the lease/100 for every length, an hour and a day included', () => {
    for (const leaseMs of [1_000, 20_000, 100_000, 200_000, 600_000, 3_600_000, 86_400_000]) {
      expect(safetyMarginMs(leaseMs) - leaseMs / 100, `${leaseMs} ms`).toBeGreaterThanOrEqual(
        Math.min(leaseMs / 100, 1_000),
      );
    }
  });

  it('keeps a tenth of a short lease and at most 2 s up to 100 s', () => {
    expect(safetyMarginMs(10)).toBe(5);
    expect(safetyMarginMs(1_000)).toBe(100);
    expect(safetyMarginMs(30_000)).toBe(2_000);
    expect(safetyMarginMs(100_000)).toBe(2_000);
    expect(safetyMarginMs(3_600_000)).toBe(72_000);
  });
});
