import type { RateLimitRule, RateLimitStore } from '../core/store.js';
import { patientIt, type ContractSetup, type ContractTestApi } from './api.js';
import { ALGORITHMS, freshKey, rule } from './rate-limit-rules.js';

/**
 * The admin side of the rate-limit contract (`peek`, `adjust`, `reset`), and refunds: a give-back
 * that names its charge (`RateLimitState.charge`, asked for with `refundable`) lands only in what
 * that charge was counted in, never in a window started since or in counters reset since.
 */
export function rateLimitAdminContract(
  api: ContractTestApi,
  name: string,
  setup: ContractSetup<RateLimitStore>,
): void {
  const { describe, expect } = api;
  const it = patientIt(api);

  /** A refundable charge of one request: its `charge` on the one rule. */
  async function charged(
    store: RateLimitStore,
    key: string,
    rules: readonly RateLimitRule[],
  ): Promise<string | undefined> {
    const result = await store.consume(key, rules, { refundable: true });
    expect(result.allowed).toBe(true);
    const charge = result.limits[0]?.charge;
    expect(typeof charge).toBe('string');
    return charge;
  }

  const remaining = async (
    store: RateLimitStore,
    key: string,
    rules: readonly RateLimitRule[],
  ): Promise<number | undefined> => (await store.peek(key, rules)).limits[0]?.remaining;

  describe(`${name}: rate-limit admin and refund contract`, () => {
    for (const algorithm of ALGORITHMS) {
      describe(algorithm, () => {
        it('peeks without charging and without starting a block', async () => {
          const { store, elapse } = setup();
          const key = freshKey();
          const rules = [rule('default', 2, 600, algorithm, { blockMs: 5_000 })];
          const fresh = await store.peek(key, rules);
          expect(fresh.allowed).toBe(true);
          expect(fresh.limits[0]).toMatchObject({ name: 'default', allowed: true, remaining: 2 });
          await store.consume(key, rules);
          expect((await store.peek(key, rules)).limits[0]?.remaining).toBe(1);
          expect((await store.peek(key, rules)).limits[0]?.remaining).toBe(1);
          await store.consume(key, rules);
          const full = await store.peek(key, rules);
          expect(full.allowed).toBe(false);
          expect(full.retryAfterMs).toBeGreaterThan(0);
          expect(full.retryAfterMs).toBeLessThanOrEqual(600);
          expect(full.limits[0]).toMatchObject({ allowed: false, remaining: 0 });
          // Had the peek started the 5 s block, this would still be refused.
          await elapse(full.retryAfterMs + 30);
          expect((await store.consume(key, rules)).allowed).toBe(true);
        });

        it('gives units back (adjust < 0), never below empty', async () => {
          const { store } = setup();
          const key = freshKey();
          const rules = [rule('default', 3, 10_000, algorithm)];
          for (let i = 0; i < 3; i++) await store.consume(key, rules);
          expect((await store.consume(key, rules)).allowed).toBe(false);
          await store.adjust(key, rules, [-1]);
          expect((await store.consume(key, rules)).allowed).toBe(true);
          expect((await store.consume(key, rules)).allowed).toBe(false);
          // Giving back more than was taken leaves a whole quota, no credit beyond it.
          await store.adjust(key, rules, [-10]);
          expect((await store.peek(key, rules)).limits[0]?.remaining).toBe(3);
          const after = [];
          for (let i = 0; i < 4; i++) after.push((await store.consume(key, rules)).allowed);
          expect(after).toEqual([true, true, true, false]);
        });

        it('takes units (adjust > 0), at most emptying the quota for no longer than one window', async () => {
          const { store, elapse } = setup();
          const key = freshKey();
          const rules = [rule('default', 3, 600, algorithm)];
          await store.adjust(key, rules, [2]);
          expect((await store.peek(key, rules)).limits[0]?.remaining).toBe(1);
          await store.adjust(key, rules, [1_000]);
          const empty = await store.peek(key, rules);
          expect(empty.allowed).toBe(false);
          expect(empty.limits[0]?.remaining).toBe(0);
          expect(empty.retryAfterMs).toBeLessThanOrEqual(600);
          await elapse(650);
          expect((await store.consume(key, rules)).allowed).toBe(true);
        });

        it('resets a client: counters and blocks are gone', async () => {
          const { store } = setup();
          const key = freshKey();
          const rules = [rule('default', 1, 10_000, algorithm, { blockMs: 60_000 })];
          await store.consume(key, rules);
          expect((await store.consume(key, rules)).allowed).toBe(false);
          await store.reset(key, rules);
          const fresh = await store.peek(key, rules);
          expect(fresh.limits[0]).toMatchObject({ allowed: true, remaining: 1 });
          expect((await store.consume(key, rules)).allowed).toBe(true);
          expect((await store.consume(key, rules)).allowed).toBe(false);
        });

        it('gives a refund back while its charge counts', async () => {
          const { store } = setup();
          const key = freshKey();
          const rules = [rule('default', 2, 10_000, algorithm)];
          const first = await charged(store, key, rules);
          await store.consume(key, rules);
          expect(await remaining(store, key, rules)).toBe(0);
          await store.adjust(key, rules, [-1], [first]);
          expect(await remaining(store, key, rules)).toBe(1);
        });

        it('gives nothing back from counters reset since the charge', async () => {
          const { store, elapse } = setup();
          const key = freshKey();
          const rules = [rule('default', 2, 10_000, algorithm)];
          const first = await charged(store, key, rules);
          await store.reset(key, rules);
          // A fixed window on Redis is told apart by its expiry time, in whole milliseconds.
          await elapse(5);
          await store.consume(key, rules);
          await store.adjust(key, rules, [-1], [first]);
          expect(await remaining(store, key, rules)).toBe(1);
        });

        it('gives nothing back from a window started after the charge', async () => {
          const { store, elapse } = setup();
          const key = freshKey();
          const rules = [rule('default', 2, 300, algorithm)];
          const first = await charged(store, key, rules);
          await elapse(400);
          await store.consume(key, rules);
          await store.adjust(key, rules, [-1], [first]);
          expect(await remaining(store, key, rules)).toBe(1);
        });
      });
    }
  });
}
