import { TollgateConfigError } from '../errors.js';

/** The configuration errors of rate limiting that name what the store cannot do. */

export function storeCannotAdjust(): TollgateConfigError {
  return new TollgateConfigError(
    'TOLLGATE_STORE_CANNOT_ADJUST',
    'the configured store has no peek(), adjust() or reset(), which skipSuccessfulRequests, skipFailedRequests and the rate-limit admin API need: use RedisStore, MemoryStore or QuorumStore, or implement them (RateLimitStore)',
  );
}

export function storeCannotRateLimit(): TollgateConfigError {
  return new TollgateConfigError(
    'TOLLGATE_STORE_CANNOT_RATE_LIMIT',
    'the configured store has no consume() method, so it cannot rate limit (PostgresStore, or a store written for idempotency only): give rate limiting a RedisStore or MemoryStore (Nest: throttle.store; Express: throttle({ store })), or implement RateLimitStore',
  );
}
