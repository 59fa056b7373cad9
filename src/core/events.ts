import type { IdempotencyEvent } from './idempotency/events.js';
import type { ExclusiveLeaseEvent } from './lease/exclusive.js';
import type { RateLimitEvent } from './ratelimit/engine.js';

/**
 * Every event Tollgate reports: idempotency, rate limiting and exclusive leases, told apart by
 * `area`, then by `type`. What one handler given to `TollgateModule.forRoot({ onEvent })` hears.
 */
export type TollgateEvent = IdempotencyEvent | RateLimitEvent | ExclusiveLeaseEvent;

export type {
  IdempotencyEvent,
  IdempotencyEventSite,
  IdempotencyDecisionOutcome,
} from './idempotency/events.js';
export type { ExclusiveLeaseEvent } from './lease/exclusive.js';
export type {
  RateLimitEvent,
  RateLimitEventSite,
  RateLimitDecisionOutcome,
} from './ratelimit/engine.js';
export type { StoreOperation } from './report.js';
