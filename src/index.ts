/**
 * Tollgate's stores, options and errors, for every framework: `import { RedisStore } from 'tollgate'`.
 * The NestJS adapter is `tollgate/nest`, the Express one `tollgate/express`; store authors find the
 * contract suites in `tollgate/testing`.
 */

// Durations, wherever an option takes one.
export { days, hours, minutes, seconds, type Duration } from './core/duration.js';

// Errors: every one has a stable `code` and a page (`errorPage(code)`); HTTP ones a problem `type`.
export {
  errorPage,
  PROBLEM_CONTENT_TYPE,
  problemType,
  StoreUnavailableError,
  TollgateConfigError,
  TollgateHttpError,
  type ProblemDetails,
  type ProblemSlug,
  type TollgateConfigCode,
  type TollgateErrorCode,
  type TollgateProblemCode,
} from './core/errors.js';

// Idempotency: the options of `@Idempotent()` and `idempotent()`, the lease a handler runs under,
// and what `onEvent` hears.
export {
  DEFAULT_REPLAY_HEADERS,
  defaultOutcome,
  type IdempotencyOptions,
  type IdempotencyOutcome,
  type IdempotencyStoreUnavailablePolicy,
  type IdempotencyStrategy,
} from './core/idempotency/options.js';
export type { IdempotencyDecisionOutcome, IdempotencyEvent } from './core/idempotency/events.js';
export type { ResultCacheOption } from './core/idempotency/result-cache.js';
export type { LocalCacheOptions } from './core/local-cache.js';
export type { BlockCacheOption } from './core/ratelimit/block-cache.js';
export type {
  FencedLease,
  IdempotencyLease,
  TransactionRecordOptions,
} from './core/lease/lease.js';
// The key as Tollgate reads it from the header (`k1` and `"k1"` are one key), for a handler that
// records it.
export { parseIdempotencyKey } from './core/keys.js';

// Rate limiting: the options of `@Throttle()` and `throttle()`, and what `onEvent` hears.
export type {
  PerRequest,
  RateLimitHeadersMode,
  RateLimitRequest,
  ThrottleKey,
  ThrottleLimit,
  ThrottleLimits,
  ThrottleSettings,
  ThrottleSkip,
  ThrottleStoreUnavailablePolicy,
  ThrottleTracker,
} from './core/ratelimit/options.js';
export type { RateLimitDecisionOutcome, RateLimitRejection } from './core/ratelimit/decision.js';
export type { RateLimitEvent } from './core/ratelimit/events.js';
// The admin API: read, reset, penalise or reward a client's counters.
export type { RateLimiter, RateLimitClient, RateLimitClientRef } from './core/ratelimit/limiter.js';

// Events: what one `onEvent` hears of idempotency, rate limiting and leases (`tollgate/otel`
// records them as OpenTelemetry metrics).
export type { TollgateEvent } from './core/events.js';
export type { StoreCallEvent, StoreOperation } from './core/report.js';

// Who a key or a counter belongs to.
export type { ScopeParts, ScopeResolver } from './core/scope.js';

// Exclusive leases: one worker among many.
export {
  ExclusiveLeases,
  validateExclusiveLeaseOptions,
  type ExclusiveLeaseOptions,
  type ExclusiveLeasesOptions,
  type ExclusiveWork,
} from './core/lease/exclusive.js';
export type { ExclusiveLease } from './core/lease/exclusive-lease.js';
export type { ExclusiveLeaseEvent } from './core/lease/events.js';

// Stores, and waiting for one at start-up.
export { MemoryStore, type MemoryStoreOptions } from './stores/memory/memory-store.js';
export {
  RedisStore,
  SAFE_CLIENT_DEFAULTS,
  type RedisStoreOptions,
} from './stores/redis/redis-store.js';
export { QuorumStore } from './stores/quorum/quorum-store.js';
export type { QuorumStoreOptions } from './stores/quorum/nodes.js';
export { waitForStore, type StoreReadiness, type WaitForStoreOptions } from './core/startup.js';
export type { Clock } from './core/clock.js';

// Health: is the store answering (for readiness probes).
export { checkStoreHealth } from './core/health.js';

// The store contract, for a store of your own (checked by `tollgate/testing`).
export {
  TollgateStore,
  type BeginResult,
  type CommittedResult,
  type FencingToken,
  type IdempotencyStore,
  type LockResult,
  type OpenTransaction,
  type RateLimitAlgorithm,
  type RateLimitConsumeOptions,
  type RateLimitResult,
  type RateLimitRule,
  type RateLimitState,
  type RateLimitStore,
  type RecordInvalidations,
  type StoreHealth,
  type StoreHealthOptions,
  type StoredResponse,
  type StoreTransactions,
  type UnstorableReason,
} from './core/store.js';
