/**
 * The store contract suites of `tollgate/testing` (src/testing/), bound to vitest, as this
 * repository runs them on its own stores.
 */
import { describe, expect, it } from 'vitest';

import type { IdempotencyStore, RateLimitStore, TollgateStore } from '../../src/core/store.js';
import {
  idempotencyStoreContract as idempotencySuite,
  leaseStoreContract as leaseSuite,
  rateLimitStoreContract as rateLimitSuite,
  storeContract as allSuites,
  type ContractSetup,
  type ContractSubject,
} from '../../src/testing.js';

const vitest = { describe, it, expect };

/** How a contract suite drives one store: the store itself, and how time passes for it. */
export type StoreUnderTest = ContractSubject<TollgateStore>;

export function idempotencyStoreContract(
  name: string,
  setup: ContractSetup<IdempotencyStore>,
): void {
  idempotencySuite(vitest, name, setup);
}

export function rateLimitStoreContract(name: string, setup: ContractSetup<RateLimitStore>): void {
  rateLimitSuite(vitest, name, setup);
}

export function leaseStoreContract(name: string, setup: ContractSetup<IdempotencyStore>): void {
  leaseSuite(vitest, name, setup);
}

/** Idempotency, leases and rate limiting on one store. */
export function storeContract(name: string, setup: ContractSetup<TollgateStore>): void {
  allSuites(vitest, name, setup);
}
