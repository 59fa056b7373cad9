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
  type IdempotencyStore,
  type LockResult,
  type StoredResponse,
  type UnstorableReason,
} from './stores/store.js';
