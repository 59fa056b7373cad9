import type { IdempotencyOptions } from 'tollgate';

/**
 * How each route of the sample is protected. Both variants read these, so
 * `@Idempotent(...)` and `idempotent(...)` can never drift apart.
 */
export const ROUTE_PROTECTION = {
  /** Charges once per Idempotency-Key; retries with the same key replay the first response. */
  orders: { strategy: 'key', required: true },
  /** The same protection; the handler also fences its ledger write with the lease's token. */
  payments: { strategy: 'key', required: true },
  /** A client that reports one change as several identical requests: they run once per 5 s window. */
  reports: { strategy: 'fingerprint', window: '5s' },
  /** A short lock on the request's fingerprint, never released: duplicates get 409 for 2 s. */
  commands: { strategy: 'lock', window: '2s', lockKey: 'fingerprint' },
} as const satisfies Record<string, IdempotencyOptions>;
