/**
 * The store contract suites Tollgate runs on its own stores, for a store of your own:
 * `import { storeContract } from 'tollgate/testing'`.
 *
 * A store passes when it behaves as `IdempotencyStore` (and `RateLimitStore`, if it rate-limits)
 * say: the suites check every promise Tollgate's engines rely on, and `ExclusiveLeases` over the
 * store. They take the test runner's functions as a parameter and import none, so they run under
 * vitest and jest alike. Each test calls `setup` for the store, so it may be created in a
 * `beforeAll`; keys are random, so one store serves every test. `elapse` lets the store's time pass:
 * advance a fake clock, or wait for real.
 *
 * @example
 * ```ts
 * // vitest (jest: import { afterAll, beforeAll, describe, expect, it } from '@jest/globals')
 * import { afterAll, beforeAll, describe, expect, it } from 'vitest';
 * import { storeContract } from 'tollgate/testing';
 *
 * let store: MyStore;
 * beforeAll(async () => { store = new MyStore(); await store.ready(); });
 * afterAll(() => store.close());
 *
 * storeContract({ describe, it, expect }, 'MyStore', () => ({
 *   store,
 *   elapse: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
 * }));
 * // Or one capability at a time: idempotencyStoreContract, rateLimitStoreContract,
 * // leaseStoreContract, healthStoreContract, with the same arguments.
 * ```
 */
import type { IdempotencyStore, RateLimitStore, TollgateStore } from './core/store.js';
import type { ContractSetup, ContractTestApi } from './testing/api.js';
import { healthStoreContract } from './testing/health-contract.js';
import { idempotencyStoreContract } from './testing/idempotency-contract.js';
import { leaseStoreContract } from './testing/lease-contract.js';
import { rateLimitStoreContract } from './testing/rate-limit-contract.js';
import { transactionalStoreContract } from './testing/transaction-contract.js';

export {
  CONTRACT_TEST_TIMEOUT_MS,
  type ContractMatchers,
  type ContractSetup,
  type ContractSubject,
  type ContractTestApi,
} from './testing/api.js';
export { idempotencyStoreContract, leaseStoreContract, rateLimitStoreContract };
export { healthStoreContract, transactionalStoreContract };

/** Which suites `storeContract` runs; all of them by default. */
export interface StoreContractOptions {
  /** Set false for a store without `consume` (idempotency and leases only). Default true. */
  rateLimiting?: boolean;
  /** Set true for a store with `transactions` (its record commits in your transaction). Default false. */
  transactions?: boolean;
}

/**
 * Every suite on one store: idempotency, leases, health (when the store has `health()`), (with
 * `transactions: true`) the transactional record, and (unless `rateLimiting: false`) rate limiting.
 */
export function storeContract<
  Store extends IdempotencyStore & Partial<RateLimitStore> & Pick<TollgateStore, 'health'>,
>(
  api: ContractTestApi,
  name: string,
  setup: ContractSetup<Store>,
  options: StoreContractOptions = {},
): void {
  idempotencyStoreContract(api, name, setup);
  leaseStoreContract(api, name, setup);
  healthStoreContract(api, name, setup);
  if (options.transactions === true) transactionalStoreContract(api, name, setup);
  if (options.rateLimiting ?? true) {
    rateLimitStoreContract(api, name, () => {
      const subject = setup();
      const { store } = subject;
      for (const method of ['consume', 'peek', 'adjust', 'reset'] as const) {
        if (typeof store[method] !== 'function') {
          throw new TypeError(
            `${name} has no ${method}(): implement RateLimitStore, or pass { rateLimiting: false } to storeContract`,
          );
        }
      }
      return { store: store as RateLimitStore, elapse: subject.elapse };
    });
  }
}
