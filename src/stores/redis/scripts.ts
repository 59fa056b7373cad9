import { createHash } from 'node:crypto';

/**
 * The Lua scripts behind the Redis store. Each is one atomic decision, sent as EVALSHA (EVAL when
 * the server does not know it yet; see `RedisStore.run`).
 *
 * An idempotency record is one string:
 *   p\n<owner>\n<fingerprint>\n<token>\n                                   in progress
 *   c\n<owner>\n<fingerprint>\n<token>\n<status>\n<headers JSON>\n<body>     completed (body: any bytes)
 *   u\n<owner>\n<fingerprint>\n<token>\n<reason>                           finished, not storable
 *   l\n<owner>\n<token>\n                                                   a lock (`lock` strategy)
 * The owner (base64url, a dot and a counter), the fingerprint (base64url) and the token (digits)
 * never contain a newline, and JSON escapes its own, so the first newlines always separate the
 * fields. Every write sets the expiry in the same command, so no record can live without one.
 * Every script is safe to run twice with the same arguments (a re-sent command changes nothing
 * more).
 *
 * Fencing tokens: each take of a key issues a token greater than any issued for it before. The
 * last one is kept beside the record (KEYS[2], which shares its {hash tag}) for as long as a lease
 * may be held; without it, the token is the server's clock in microseconds, which has moved past
 * every earlier token by then. So tokens grow across expiry, release and restart alike.
 */

/** A script's text and the SHA1 that EVALSHA names it by. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** `fence(key, ttl)`: the next fencing token of the record whose fence `key` is, as a string. */
const FENCE = `
local function fence(key, ttl)
  local clock = redis.call('TIME')
  local token = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  local last = tonumber(redis.call('GET', key) or '0')
  if last >= token then token = last + 1 end
  local text = string.format('%.0f', token)
  redis.call('SET', key, text, 'PX', ttl)
  return text
end
`;

/**
 * KEYS[1] record, KEYS[2] its fence; ARGV owner, fingerprint, lease ms. A free (or expired) key is
 * taken with a new fencing token: `{'acquired', token}`. A key that is held replies
 * `{'held', record}`, and the app reads the record: no part of a stored body is cut up inside the
 * script.
 */
export const BEGIN = script(`${FENCE}
local record = redis.call('GET', KEYS[1])
if record then return {'held', record} end
local token = fence(KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], 'p\\n' .. ARGV[1] .. '\\n' .. ARGV[2] .. '\\n' .. token .. '\\n', 'PX', ARGV[3])
return {'acquired', token}
`);

/**
 * `held(state)`: the record starts with `<state>\n<owner>\n` for this owner. Read with GETRANGE,
 * so checking a completed record never copies its body.
 */
const HEADER_CHECK = `
local function held(state)
  local prefix = state .. '\\n' .. ARGV[1] .. '\\n'
  return redis.call('GETRANGE', KEYS[1], 0, #prefix - 1) == prefix
end
`;

/**
 * KEYS[1] record, KEYS[2] its fence; ARGV owner, `<status>\n<headers JSON>\n<body>` (built by the
 * app, so the script only compares and writes), retention ms. One GET and one SET: the
 * in-progress record is a few dozen bytes, so reading it whole costs less than a GETRANGE and then
 * a GET. The fence goes: the key is not taken again before the record expires, and by then the
 * server's clock is past every token.
 */
export const COMPLETE = script(`
local record = redis.call('GET', KEYS[1])
if not record then return 0 end
local head = 'p\\n' .. ARGV[1] .. '\\n'
-- Only the lease holder may write: a request that lost its lease never overwrites a newer result.
if string.sub(record, 1, #head) ~= head then
  -- Re-sent after it succeeded: already done.
  return string.sub(record, 1, #head) == 'c' .. string.sub(head, 2) and 1 or 0
end
-- 'p\\n<owner>\\n<fingerprint>\\n<token>\\n' becomes 'c\\n<owner>\\n<fingerprint>\\n<token>\\n<status>\\n<headers>\\n<body>'.
redis.call('SET', KEYS[1], 'c' .. string.sub(record, 2) .. ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
`);

/** KEYS[1] record, KEYS[2] its fence; ARGV owner, reason, retention ms. */
export const MARK_UNSTORABLE = script(`${HEADER_CHECK}
if not held('p') then return held('u') and 1 or 0 end
local record = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], 'u' .. string.sub(record, 2) .. ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
`);

/**
 * KEYS[1] record; ARGV owner. Only an in-progress lease or a lock this owner still holds: never a
 * finished result, never someone else's. The fence stays, so the next take's token is greater.
 */
export const RELEASE = script(`${HEADER_CHECK}
if held('p') or held('l') then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`);

/** KEYS[1] record (in progress, or a lock held as an exclusive lease), KEYS[2] its fence; ARGV owner, lease ms. */
export const RENEW = script(`${HEADER_CHECK}
if held('p') or held('l') then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
`);

/**
 * KEYS[1] lock, KEYS[2] its fence; ARGV owner, ttl ms. Replies `{'acquired', token}` when taken now
 * (or already held by this owner: a re-sent call), else `{'held', remaining ms}`.
 */
export const LOCK = script(`${FENCE}
local record = redis.call('GET', KEYS[1])
if record then
  local head = 'l\\n' .. ARGV[1] .. '\\n'
  if string.sub(record, 1, #head) == head then
    return {'acquired', string.sub(record, #head + 1, -2)}
  end
  return {'held', redis.call('PTTL', KEYS[1])}
end
local token = fence(KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], 'l\\n' .. ARGV[1] .. '\\n' .. token .. '\\n', 'PX', ARGV[2])
return {'acquired', token}
`);

/**
 * One rate-limit decision over every named limit of a request: all of them admit it and each is
 * charged, or none is (a rejected request consumes from none). Same semantics as
 * src/core/ratelimit/in-process.ts. Time comes from the server (`TIME`), never from app servers.
 *
 * KEYS[1]      block record: a hash of limit name -> blocked-until ms (absent when nothing is blocked)
 * KEYS[1 + i]  state of limit i: fixed window, a counter string; sliding window, a sorted set of
 *              the units taken (score: time taken); token bucket, the GCRA arrival time (string)
 * ARGV[1]      n, the number of limits
 * ARGV[2..]    six values per limit: name, algorithm ('fw', 'sw', 'tb'), limit, window ms, cost,
 *              block ms
 * ARGV[2+6n]   a nonce unique to this call: makes its sliding-window members unique
 * Reply: { allowed 0|1, then four values per limit: allowed 0|1, remaining, reset ms, retry ms }.
 * Every key shares one {hash tag}, so the script runs on Redis Cluster; every write sets its expiry
 * in this same script, so no key can live without one.
 */
export const RATE_LIMIT = script(`
local n = tonumber(ARGV[1])
-- Server time in ms, with microsecond precision: the one clock all app servers share. A fixed
-- window needs none (its counter's expiry is its clock), so only the other algorithms and blocks
-- read it.
local now = 0
for i = 1, n do
  local a = 1 + (i - 1) * 6
  if ARGV[a + 2] ~= 'fw' or tonumber(ARGV[a + 6]) > 0 then
    local clock = redis.call('TIME')
    now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
    break
  end
end
local nonce = ARGV[2 + 6 * n]
-- Floating-point slack for GCRA sums such as 3 x (1000 / 3), which may land a hair above 1000.
local EPS = 1e-6
-- Scores and times are written with 3 decimals (microseconds); tostring would keep only 14 digits.
local function ms(x) return string.format('%.3f', x) end

-- Phase 1: read every limit's state and decide. Only fixed windows are charged here (see below);
-- phase 2 takes that charge back if the request is refused.
local states = {}
local allowed = true
for i = 1, n do
  local a = 1 + (i - 1) * 6
  local s = {
    name = ARGV[a + 1], algorithm = ARGV[a + 2], limit = tonumber(ARGV[a + 3]),
    window = tonumber(ARGV[a + 4]), cost = tonumber(ARGV[a + 5]), block = tonumber(ARGV[a + 6]),
    key = KEYS[i + 1], retry = 0
  }
  if s.algorithm == 'fw' then
    -- Fixed window: a counter that expires when its window ends; the window starts with its first unit.
    -- Charged at once, since most requests are admitted: INCRBY and PTTL, where reading first and
    -- charging after would take a GET as well.
    s.count = redis.call('INCRBY', s.key, s.cost)
    s.ttl = redis.call('PTTL', s.key)
    -- A counter without expiry was absent until now (INCRBY made it), or somehow lost its expiry:
    -- a new window starts with this request.
    s.fresh = s.ttl < 0
    if s.fresh then
      s.used = 0
      s.ttl = -2
    else
      s.used = s.count - s.cost
    end
    s.ok = s.used + s.cost <= s.limit
    if not s.ok then s.retry = s.ttl end
  elseif s.algorithm == 'sw' then
    -- Sliding window, exact: a unit counts while less than a window has passed since it was taken.
    -- Dropping units that have left the window charges nothing, so it may happen in this phase.
    redis.call('ZREMRANGEBYSCORE', s.key, '-inf', ms(now - s.window))
    s.used = redis.call('ZCARD', s.key)
    s.ok = s.used + s.cost <= s.limit
    if not s.ok then
      -- The request fits once the oldest (used + cost - limit) units have left the window.
      local k = s.used + s.cost - s.limit - 1
      s.retry = tonumber(redis.call('ZRANGE', s.key, k, k, 'WITHSCORES')[2]) + s.window - now
    end
  else
    -- Token bucket as GCRA: one unit returns every window / limit ms, the bucket holds limit units,
    -- and the state is the time at which the bucket would be full again (the arrival time, TAT).
    s.interval = s.window / s.limit
    s.tat = tonumber(redis.call('GET', s.key) or '0')
    -- A bucket that filled up in the past carries no debt.
    if s.tat < now then s.tat = now end
    s.after = s.tat + s.cost * s.interval
    -- Admitted while the debt, this request included, fits in one window (the bucket's size).
    s.ok = s.after - now <= s.window + EPS
    if not s.ok then s.retry = s.after - s.window - now end
  end
  -- A block from an earlier rejection outlasts whatever the counter says (only limits that block).
  if s.block > 0 then
    local blocked = tonumber(redis.call('HGET', KEYS[1], s.name) or '0')
    if blocked > now then
      s.blocked = blocked - now
      s.ok = false
      s.retry = math.max(s.retry, s.blocked)
    end
  end
  if not s.ok then allowed = false end
  states[i] = s
end

-- Phase 2: charge every limit, or (rejected) none; then report each limit as it now stands.
for i = 1, n do
  local s = states[i]
  if s.algorithm == 'fw' then
    if allowed then
      -- A new window's counter gets its expiry; an existing one, already charged, keeps its own.
      if s.fresh then
        redis.call('SET', s.key, s.cost, 'PX', s.window)
        s.ttl = s.window
      end
      s.used = s.used + s.cost
    elseif s.fresh and s.count == s.cost then
      -- Refused: the counter phase 1 created goes again, so no key is left without an expiry.
      redis.call('DEL', s.key)
    else
      redis.call('DECRBY', s.key, s.cost)
    end
    s.remaining = s.limit - s.used
    -- No window running (nothing charged yet): the quota is whole now.
    s.reset = s.ttl > 0 and s.ttl or 0
  elseif s.algorithm == 'sw' then
    if allowed then
      -- One member per unit, unique per call; the set expires when its newest unit leaves the window.
      for u = 1, s.cost do
        redis.call('ZADD', s.key, ms(now), nonce .. ':' .. u)
      end
      redis.call('PEXPIRE', s.key, math.ceil(s.window))
      s.used = s.used + s.cost
    end
    s.remaining = s.limit - s.used
    -- The quota is whole once the newest unit has left the window.
    s.reset = 0
    if s.used > 0 then
      s.reset = tonumber(redis.call('ZRANGE', s.key, -1, -1, 'WITHSCORES')[2]) + s.window - now
    end
  else
    local held = s.tat
    if allowed then
      -- The arrival time, expiring when the bucket is full again (an absent key means full).
      redis.call('SET', s.key, ms(s.after), 'PX', math.max(1, math.ceil(s.after - now)))
      held = s.after
    end
    s.remaining = math.floor((s.window - (held - now)) / s.interval + EPS)
    s.reset = held - now
  end
  if not allowed and not s.ok and not s.blocked and s.block > 0 then
    -- Exceeding a limit that has a block duration shuts the client out for that long.
    redis.call('HSET', KEYS[1], s.name, ms(now + s.block))
    -- The record lives as long as its longest block.
    if redis.call('PTTL', KEYS[1]) < s.block then redis.call('PEXPIRE', KEYS[1], s.block) end
    s.blocked = s.block
    s.retry = math.max(s.retry, s.block)
  end
  if s.blocked then
    s.remaining = 0
    s.reset = math.max(s.reset, s.blocked)
  end
end

-- Integer replies truncate: round times up, so no reported time is ever earlier than the real one.
local reply = { allowed and 1 or 0 }
for i = 1, n do
  local s = states[i]
  reply[#reply + 1] = s.ok and 1 or 0
  reply[#reply + 1] = math.max(0, s.remaining)
  reply[#reply + 1] = math.ceil(s.reset)
  reply[#reply + 1] = math.ceil(s.retry)
end
return reply
`);

/**
 * `RATE_LIMIT` for the common case, fixed windows only and none that blocks: the same decision
 * and the same reply, without the general script's table per limit, clock or block record, which
 * cost more Redis CPU than the commands themselves.
 *
 * KEYS as `RATE_LIMIT` (the block record first, unused here); ARGV[1] n, then three values per
 * limit: limit, window ms, cost.
 */
export const FIXED_WINDOWS = script(`
local n = tonumber(ARGV[1])
local counts, ttls, used = {}, {}, {}
local allowed = true
-- Charged at once, as in RATE_LIMIT; taken back below if any limit refuses.
for i = 1, n do
  local key, limit, cost = KEYS[i + 1], tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i + 1])
  local count = redis.call('INCRBY', key, cost)
  local ttl = redis.call('PTTL', key)
  -- No expiry: the counter is new (or somehow lost its expiry), and a window starts now.
  if ttl < 0 then
    used[i] = 0
    ttl = -2
  else
    used[i] = count - cost
  end
  counts[i], ttls[i] = count, ttl
  if used[i] + cost > limit then allowed = false end
end
local reply = { allowed and 1 or 0 }
for i = 1, n do
  local key, limit = KEYS[i + 1], tonumber(ARGV[3 * i - 1])
  local window, cost = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local u, ttl = used[i], ttls[i]
  local ok = u + cost <= limit
  if allowed then
    if ttl < 0 then
      redis.call('SET', key, cost, 'PX', window)
      ttl = window
    end
    u = u + cost
  elseif ttl < 0 and counts[i] == cost then
    redis.call('DEL', key)
  else
    redis.call('DECRBY', key, cost)
  end
  reply[#reply + 1] = ok and 1 or 0
  reply[#reply + 1] = math.max(0, limit - u)
  reply[#reply + 1] = ttl > 0 and ttl or 0
  reply[#reply + 1] = ok and 0 or ttl
end
return reply
`);
