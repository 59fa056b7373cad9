import type { IdempotencyEvent } from './idempotency/events.js';
import type { ExclusiveLeaseEvent } from './lease/events.js';
import type { RateLimitEvent } from './ratelimit/events.js';

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
export type { ExclusiveLeaseEvent, ExclusiveLeaseEventSite } from './lease/events.js';
export type { RateLimitEvent, RateLimitEventSite } from './ratelimit/events.js';
export type { RateLimitDecisionOutcome } from './ratelimit/decision.js';
export type { StoreOperation } from './report.js';
