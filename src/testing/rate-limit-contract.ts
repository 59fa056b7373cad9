import type { RateLimitResult, RateLimitRule, RateLimitStore } from '../core/store.js';
import { patientIt, type ContractSetup, type ContractTestApi } from './api.js';
import { rateLimitAdminContract } from './rate-limit-admin-contract.js';
import { ALGORITHMS, freshKey, rule } from './rate-limit-rules.js';

/**
 * The rate-limit semantics every store must have (`consume`, `peek`, `adjust`, `reset`):
 * all-or-nothing over several limits, exact counts under a flood, each algorithm's refill, blocks,
 * and the admin operations that read, give back, take and forget units (rate-limit-admin-contract.ts).
 * Run on every store so the Redis
 * script and the in-process limiter cannot drift apart. Windows are short because a real server
 * really waits; the margins leave room for a loaded CI machine.
 */
export function rateLimitStoreContract(
  api: ContractTestApi,
  name: string,
  setup: ContractSetup<RateLimitStore>,
): void {
  const { describe, expect } = api;
  const it = patientIt(api);
  describe(`${name}: rate-limit store contract`, () => {
    for (const algorithm of ALGORITHMS) {
      describe(algorithm, () => {
        it('admits exactly N of N + k requests, counting down, then rejects with a retry time', async () => {
          const { store } = setup();
          const key = freshKey();
          const rules = [rule('default', 5, 10_000, algorithm)];
          const results: RateLimitResult[] = [];
          for (let i = 0; i < 8; i++) results.push(await store.consume(key, rules));
          expect(results.map((result) => result.allowed)).toEqual([
            true,
            true,
            true,
            true,
            true,
            false,
            false,
            false,
          ]);
          expect(results.map((result) => result.limits[0]?.remaining)).toEqual([
            4, 3, 2, 1, 0, 0, 0, 0,
          ]);
          for (const rejected of results.slice(5)) {
            expect(rejected.retryAfterMs).toBeGreaterThan(0);
            expect(rejected.retryAfterMs).toBeLessThanOrEqual(10_000);
            expect(rejected.limits[0]).toMatchObject({ name: 'default', allowed: false });
          }
          const first = results[0]?.limits[0];
          expect(first?.resetMs).toBeGreaterThan(0);
          expect(first?.resetMs).toBeLessThanOrEqual(10_000);
        });

        it('lets a flood of 1000 concurrent requests through at most `limit` times', async () => {
          const { store } = setup();
          const key = freshKey();
          const rules = [rule('default', 5, 10_000, algorithm)];
          const results = await Promise.all(
            Array.from({ length: 1000 }, () => store.consume(key, rules)),
          );
          expect(results.filter((result) => result.allowed)).toHaveLength(5);
        });

        it('charges `cost` units per request and never admits a request that does not fit', async () => {
          const { store } = setup();
          const key = freshKey();
          const rules = [rule('default', 5, 10_000, algorithm, { cost: 2 })];
          const first = await store.consume(key, rules);
          const second = await store.consume(key, rules);
          const third = await store.consume(key, rules);
          expect([first.allowed, second.allowed, third.allowed]).toEqual([true, true, false]);
          expect(second.limits[0]?.remaining).toBe(1);
          // The rejected request took nothing: one unit is still there.
          expect(third.limits[0]?.remaining).toBe(1);
        });

        it('admits again once the retry time has passed', async () => {
          const { store, elapse } = setup();
          const key = freshKey();
          const rules = [rule('default', 2, 600, algorithm)];
          await store.consume(key, rules);
          await store.consume(key, rules);
          const rejected = await store.consume(key, rules);
          expect(rejected.allowed).toBe(false);
          expect(rejected.retryAfterMs).toBeLessThanOrEqual(600);
          await elapse(rejected.retryAfterMs + 30);
          expect((await store.consume(key, rules)).allowed).toBe(true);
        });

        it('blocks for blockDuration after a rejection, then admits again', async () => {
          const { store, elapse } = setup();
          const key = freshKey();
          const rules = [rule('default', 1, 200, algorithm, { blockMs: 1_200 })];
          expect((await store.consume(key, rules)).allowed).toBe(true);
          const rejected = await store.consume(key, rules);
          expect(rejected.allowed).toBe(false);
          expect(rejected.retryAfterMs).toBeGreaterThanOrEqual(1_200);
          expect(rejected.limits[0]).toMatchObject({ remaining: 0 });
          expect(rejected.limits[0]?.resetMs).toBeGreaterThanOrEqual(1_200);
          // The counter alone would admit by now; the block does not.
          await elapse(400);
          const stillBlocked = await store.consume(key, rules);
          expect(stillBlocked.allowed).toBe(false);
          expect(stillBlocked.retryAfterMs).toBeGreaterThan(0);
          // 800 ms and a little slack: a store of several nodes (a quorum) starts the block on each
          // node as that node sees the rejection, and reports the latest of them.
          expect(stillBlocked.retryAfterMs).toBeLessThanOrEqual(850);
          await elapse(stillBlocked.retryAfterMs + 30);
          expect((await store.consume(key, rules)).allowed).toBe(true);
        });
      });
    }

    it('rejects all-or-nothing: a request rejected by one limit consumes from none', async () => {
      const { store } = setup();
      const key = freshKey();
      const burst = rule('burst', 2, 10_000, 'sliding-window');
      const hourly = rule('hourly', 5, 60_000, 'fixed-window');
      const bucket = rule('bucket', 5, 60_000, 'token-bucket');
      const rules = [burst, hourly, bucket];
      expect((await store.consume(key, rules)).allowed).toBe(true);
      expect((await store.consume(key, rules)).allowed).toBe(true);
      for (let i = 0; i < 5; i++) {
        const rejected = await store.consume(key, rules);
        expect(rejected.allowed).toBe(false);
        expect(
          rejected.limits.map((state) => [state.name, state.allowed, state.remaining]),
        ).toEqual([
          ['burst', false, 0],
          ['hourly', true, 3],
          ['bucket', true, 3],
        ]);
        // Only the exhausted limit decides when to come back.
        expect(rejected.retryAfterMs).toBe(rejected.limits[0]?.retryAfterMs);
      }
      // The other limits were charged exactly twice: alone, each still has 3 units.
      const hourlyAlone = await store.consume(key, [hourly]);
      expect(hourlyAlone.limits[0]?.remaining).toBe(2);
      const bucketAlone = await store.consume(key, [bucket]);
      expect(bucketAlone.limits[0]?.remaining).toBe(2);
    });

    it('gives back on every limit of one adjust at once, and concurrent give-backs each count', async () => {
      const { store } = setup();
      const key = freshKey();
      const rules = [
        // An hour: a token comes back every 72 s, so none does while the test runs.
        rule('a', 50, 3_600_000, 'sliding-window'),
        rule('b', 50, 3_600_000, 'fixed-window'),
        rule('c', 50, 3_600_000, 'token-bucket'),
      ];
      await Promise.all(Array.from({ length: 50 }, () => store.consume(key, rules)));
      await Promise.all(Array.from({ length: 20 }, () => store.adjust(key, rules, [-1, -1, -1])));
      const states = (await store.peek(key, rules)).limits;
      expect(states.map((state) => state.remaining)).toEqual([20, 20, 20]);
      const again = await Promise.all(Array.from({ length: 40 }, () => store.consume(key, rules)));
      expect(again.filter((result) => result.allowed)).toHaveLength(20);
    });

    it('takes the latest retry time over every exhausted limit', async () => {
      const { store } = setup();
      const key = freshKey();
      const rules = [
        rule('short', 1, 2_000, 'fixed-window'),
        rule('long', 1, 8_000, 'fixed-window'),
      ];
      await store.consume(key, rules);
      const rejected = await store.consume(key, rules);
      expect(rejected.allowed).toBe(false);
      expect(rejected.retryAfterMs).toBeGreaterThan(6_000);
      expect(rejected.retryAfterMs).toBe(
        Math.max(...rejected.limits.map((state) => state.retryAfterMs)),
      );
    });

    it('slides exactly: a unit counts for one window after it was taken, never twice the limit at an edge', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      const rules = [rule('default', 3, 2_000, 'sliding-window')];
      // t = 0: one unit; t = 1000: two more; the window is full.
      expect((await store.consume(key, rules)).allowed).toBe(true);
      await elapse(1_000);
      expect((await store.consume(key, rules)).allowed).toBe(true);
      expect((await store.consume(key, rules)).allowed).toBe(true);
      const full = await store.consume(key, rules);
      expect(full.allowed).toBe(false);
      // The oldest unit leaves the window at t = 2000.
      expect(full.retryAfterMs).toBeGreaterThan(500);
      expect(full.retryAfterMs).toBeLessThanOrEqual(1_000);
      // t ≈ 2100: only the unit from t = 0 has left. A fixed window started at t = 0 would now
      // admit 3 more (6 within 1.1 s); an exact sliding window admits exactly one.
      await elapse(full.retryAfterMs + 100);
      expect((await store.consume(key, rules)).allowed).toBe(true);
      const again = await store.consume(key, rules);
      expect(again.allowed).toBe(false);
      // The two units from t = 1000 leave at t = 3000, about 900 ms from now: one window after
      // they were taken, which was at most 2000 - full.retryAfterMs after the first unit (the
      // store's own answers bound it, however late a slow machine delivers them).
      expect(again.retryAfterMs).toBeGreaterThan(500);
      expect(again.retryAfterMs).toBeLessThanOrEqual(1_900 - full.retryAfterMs);
      await elapse(again.retryAfterMs + 50);
      expect((await store.consume(key, rules)).allowed).toBe(true);
      expect((await store.consume(key, rules)).allowed).toBe(true);
      expect((await store.consume(key, rules)).allowed).toBe(false);
    });

    it('refills a token bucket one unit per window / limit', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      const rules = [rule('default', 4, 2_000, 'token-bucket')];
      for (let i = 0; i < 4; i++) expect((await store.consume(key, rules)).allowed).toBe(true);
      const empty = await store.consume(key, rules);
      expect(empty.allowed).toBe(false);
      // One unit comes back every 500 ms.
      expect(empty.retryAfterMs).toBeGreaterThan(300);
      expect(empty.retryAfterMs).toBeLessThanOrEqual(500);
      await elapse(empty.retryAfterMs + 20);
      expect((await store.consume(key, rules)).allowed).toBe(true);
      expect((await store.consume(key, rules)).allowed).toBe(false);
    });

    it('keeps the counters of different keys and different names apart', async () => {
      const { store } = setup();
      const [a, b] = [freshKey(), freshKey()];
      const rules = [rule('default', 1, 10_000, 'sliding-window')];
      expect((await store.consume(a, rules)).allowed).toBe(true);
      expect((await store.consume(b, rules)).allowed).toBe(true);
      expect((await store.consume(a, [rule('other', 1, 10_000, 'sliding-window')])).allowed).toBe(
        true,
      );
      expect((await store.consume(a, rules)).allowed).toBe(false);
    });

    it('reports a whole, untouched quota for a limit that was never charged', async () => {
      const { store } = setup();
      const key = freshKey();
      const rules = [
        rule('tight', 1, 10_000, 'fixed-window'),
        ...ALGORITHMS.map((algorithm) => rule(`loose-${algorithm}`, 10, 10_000, algorithm)),
      ];
      await store.consume(key, [rules[0] as RateLimitRule]);
      const rejected = await store.consume(key, rules);
      expect(rejected.allowed).toBe(false);
      for (const state of rejected.limits.slice(1)) {
        expect(state).toEqual({
          name: state.name,
          allowed: true,
          remaining: 10,
          resetMs: 0,
          retryAfterMs: 0,
        });
      }
    });
  });
  rateLimitAdminContract(api, name, setup);
}
