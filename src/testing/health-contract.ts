import type { IdempotencyStore, TollgateStore } from '../core/store.js';
import { patientIt, type ContractSetup, type ContractTestApi } from './api.js';

/**
 * `health()` on a store that has one (it is optional): a store that serves requests says `up`,
 * with a latency, within the time it is given, and checking it changes nothing for the requests.
 * A store without `health()` passes: `checkStoreHealth` reports it `up`.
 */
export function healthStoreContract(
  api: ContractTestApi,
  name: string,
  setup: ContractSetup<IdempotencyStore & Pick<TollgateStore, 'health'>>,
): void {
  const { describe, expect } = api;
  const it = patientIt(api);

  describe(`${name}: health contract`, () => {
    it('reports up, with its latency, within the time it is given, while it serves requests', async () => {
      const { store } = setup();
      if (typeof store.health !== 'function') return;
      const started = performance.now();
      const health = await store.health({ timeoutMs: 2_000 });
      expect(performance.now() - started).toBeLessThanOrEqual(2_500);
      expect(health.status).toBe('up');
      expect(health.latencyMs).toBeGreaterThanOrEqual(0);
      expect(health.latencyMs).toBeLessThanOrEqual(2_000);
      // The check is a read: the store goes on serving as before.
      const key = `contract:health:{${Math.random().toString(36).slice(2)}}`;
      expect(await store.begin(key, 'a', 'fp', 1_000)).toMatchObject({ state: 'acquired' });
    });
  });
}
