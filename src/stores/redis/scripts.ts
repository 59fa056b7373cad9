/**
 * The Lua scripts behind the Redis store. Each is one atomic decision, registered once with
 * `defineCommand` so ioredis sends EVALSHA (and falls back to EVAL on NOSCRIPT by itself).
 *
 * An idempotency record is one hash with these fields:
 *   s  state: 'p' in progress, 'c' completed, 'u' finished but not storable
 *   o  owner token of the request that holds (or held) the lease
 *   f  request fingerprint
 *   c  status code, h headers (JSON pairs), b body bytes   (completed only)
 *   r  reason                                              (unstorable only)
 * Every write sets the expiry in the same script, so no record can live without one. Every script
 * is safe to run twice with the same arguments (a re-sent command changes nothing more).
 */

/** KEYS[1] record; ARGV owner, fingerprint, lease ms. */
export const BEGIN = `
local r = redis.call('HMGET', KEYS[1], 's', 'o', 'f')
if not r[1] then
  -- Free (or expired): take the in-progress lease, with its short expiry, in this same step.
  redis.call('HSET', KEYS[1], 's', 'p', 'o', ARGV[1], 'f', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'acquired'}
end
-- The same key with another request behind it: report it without revealing anything stored.
if r[3] ~= ARGV[2] then return {'mismatch'} end
if r[1] == 'p' then
  -- Our own lease (this script was re-sent): still ours.
  if r[2] == ARGV[1] then return {'acquired'} end
  return {'in-progress', redis.call('PTTL', KEYS[1])}
end
if r[1] == 'c' then
  local stored = redis.call('HMGET', KEYS[1], 'c', 'h', 'b')
  return {'completed', stored[1], stored[2], stored[3]}
end
return {'unstorable', redis.call('HGET', KEYS[1], 'r')}
`;

/** KEYS[1] record; ARGV owner, status, headers JSON, body, retention ms. */
export const COMPLETE = `
local r = redis.call('HMGET', KEYS[1], 's', 'o')
-- Only the lease holder may write: a request that lost its lease never overwrites a newer result.
if r[2] ~= ARGV[1] then return 0 end
if r[1] == 'c' then return 1 end
if r[1] ~= 'p' then return 0 end
redis.call('HSET', KEYS[1], 's', 'c', 'c', ARGV[2], 'h', ARGV[3], 'b', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

/** KEYS[1] record; ARGV owner, reason, retention ms. */
export const MARK_UNSTORABLE = `
local r = redis.call('HMGET', KEYS[1], 's', 'o')
if r[2] ~= ARGV[1] then return 0 end
if r[1] == 'u' then return 1 end
if r[1] ~= 'p' then return 0 end
redis.call('HSET', KEYS[1], 's', 'u', 'r', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

/** KEYS[1] record; ARGV owner. */
export const RELEASE = `
local r = redis.call('HMGET', KEYS[1], 's', 'o')
-- Only an in-progress lease we still hold: never a finished result, never someone else's lease.
if r[1] == 'p' and r[2] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** KEYS[1] record; ARGV owner, lease ms. */
export const RENEW = `
local r = redis.call('HMGET', KEYS[1], 's', 'o')
if r[1] == 'p' and r[2] == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** KEYS[1] lock; ARGV ttl ms. Returns -1 when taken now, else the lock's remaining ms. */
export const LOCK = `
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return -1 end
return redis.call('PTTL', KEYS[1])
`;
