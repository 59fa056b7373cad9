/** Tollgate's framework-free core and stores: `import { RedisStore } from 'tollgate'`. */
export { days, hours, minutes, seconds, toMilliseconds, type Duration } from './core/duration.js';
export {
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_BASE,
  StoreUnavailableError,
  TollgateConfigError,
  TollgateHttpError,
  type ProblemDetails,
  type ProblemSlug,
} from './core/errors.js';
export { canonicalJson, fingerprintRequest, type FingerprintInput } from './core/fingerprint.js';
export { MAX_KEY_LENGTH, parseIdempotencyKey, storageKey } from './core/keys.js';
export {
  Execution,
  IdempotencyEngine,
  REPLAYED_HEADER,
  type CapturedResponse,
  type IdempotencyDecision,
  type IdempotencyEngineOptions,
  type IdempotencyEvent,
  type IdempotencyRequest,
} from './core/idempotency/engine.js';
export { safetyMarginMs, type IdempotencyLease } from './core/lease/lease.js';
export {
  ExclusiveLeases,
  validateExclusiveLeaseOptions,
  type ExclusiveLease,
  type ExclusiveLeaseEvent,
  type ExclusiveLeaseOptions,
  type ExclusiveLeasesOptions,
  type ExclusiveWork,
} from './core/lease/exclusive.js';
export { scopeKey, userScope, type ScopeParts, type ScopeResolver } from './core/scope.js';
export {
  DEFAULT_REPLAY_HEADERS,
  defaultOutcome,
  resolveIdempotencyPolicy,
  type IdempotencyOptions,
  type IdempotencyPolicy,
  type IdempotencyStrategy,
  type Outcome,
  type StoreUnavailablePolicy,
} from './core/idempotency/options.js';
export {
  RateLimitEngine,
  type RateLimitDecision,
  type RateLimitEngineOptions,
  type RateLimitCharge,
  type RateLimitEvent,
  type RateLimitCounted,
  type RateLimitRejection,
} from './core/ratelimit/engine.js';
export {
  RATE_LIMIT_HEADER,
  RATE_LIMIT_POLICY_HEADER,
  policyHeaderValue,
  rateLimitHeaderValue,
} from './core/ratelimit/headers.js';
export {
  RateLimiter,
  type RateLimitClient,
  type RateLimitClientRef,
} from './core/ratelimit/limiter.js';
export {
  InProcessRateLimiter,
  type InProcessRateLimiterOptions,
} from './core/ratelimit/in-process.js';
export {
  resolveThrottlePolicy,
  routeKey,
  validateThrottleDefaults,
  type PerRequest,
  type RateLimitHeadersMode,
  type RateLimitRequest,
  type RateLimitStoreFailurePolicy,
  type ResolvedLimit,
  type ThrottleKey,
  type ThrottleLayer,
  type ThrottleLimit,
  type ThrottleLimits,
  type ThrottlePolicy,
  type ThrottleRouteLimits,
  type ThrottleSettings,
  type ThrottleSkip,
  type ThrottleTracker,
} from './core/ratelimit/options.js';
export { clientAddress, groupAddress, resolveTracker } from './core/ratelimit/tracker.js';
export {
  describeRateLimitRequest,
  type RateLimitHttpRequestLike,
} from './http/rate-limit-request.js';
export { systemClock, type Clock } from './core/clock.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory/memory-store.js';
export {
  RedisStore,
  SAFE_CLIENT_DEFAULTS,
  type RedisStoreOptions,
} from './stores/redis/redis-store.js';
export { QuorumStore, type QuorumStoreOptions } from './stores/quorum/quorum-store.js';
export {
  TollgateStore,
  type BeginResult,
  type FencingToken,
  type IdempotencyStore,
  type LockResult,
  type RateLimitAlgorithm,
  type RateLimitResult,
  type RateLimitRule,
  type RateLimitState,
  type RateLimitStore,
  type StoredResponse,
  type UnstorableReason,
} from './core/store.js';
