/**
 * The idempotency store contract, bound to vitest. The suite itself lives in
 * src/testing/idempotency-contract.ts and is published as `tollgate/testing`.
 */
export { idempotencyStoreContract, type StoreUnderTest } from './store.contract.js';
