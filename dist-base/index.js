/** Tollgate's framework-free core and stores: `import { RedisStore } from 'tollgate'`. */
export { days, hours, minutes, seconds, toMilliseconds } from './core/duration.js';
export { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, StoreUnavailableError, TollgateConfigError, TollgateHttpError, } from './core/errors.js';
export { canonicalJson, fingerprintRequest } from './core/fingerprint.js';
export { MAX_KEY_LENGTH, parseIdempotencyKey, storageKey } from './core/keys.js';
export { Execution, IdempotencyEngine, REPLAYED_HEADER, } from './core/idempotency/engine.js';
export { DEFAULT_REPLAY_HEADERS, defaultOutcome, resolveIdempotencyPolicy, } from './core/idempotency/options.js';
export { RateLimitEngine, } from './core/ratelimit/engine.js';
export { RATE_LIMIT_HEADER, RATE_LIMIT_POLICY_HEADER, policyHeaderValue, rateLimitHeaderValue, } from './core/ratelimit/headers.js';
export { InProcessRateLimiter, } from './core/ratelimit/in-process.js';
export { resolveThrottlePolicy, routeKey, validateThrottleDefaults, } from './core/ratelimit/options.js';
export { clientAddress, groupAddress, resolveTracker } from './core/ratelimit/tracker.js';
export { describeRateLimitRequest, } from './http/rate-limit-request.js';
export { systemClock } from './core/clock.js';
export { MemoryStore } from './stores/memory/memory-store.js';
export { RedisStore, SAFE_CLIENT_DEFAULTS, } from './stores/redis/redis-store.js';
export { QuorumStore } from './stores/quorum/quorum-store.js';
export { TollgateStore, } from './stores/store.js';
//# sourceMappingURL=index.js.map