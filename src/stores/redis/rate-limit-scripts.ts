import { script } from './lua-script.js';

/**
 * The fixed window, the one algorithm both rate-limit scripts run: a counter that expires when its
 * window ends, the window starting with its first unit.
 *
 * `fw_charge(key, cost)` charges at once, since most requests are admitted (INCRBY and PTTL, where
 * reading first and charging after would take a GET as well), and returns the count, the counter's
 * PTTL (-2 when a window starts with this request) and the units used before it. A counter without
 * expiry was absent until now (INCRBY made it), or somehow lost its expiry: a new window starts.
 * So does one whose expiry falls due in this millisecond (PTTL 0): Redis keeps a key through that
 * millisecond, while every other store (and the reply's reset time) has ended the window by then.
 *
 * `fw_settle(allowed, key, window, cost, count, ttl, used)` keeps that charge or takes it back once
 * every limit has decided, and returns the PTTL and the units used as they now stand.
 */
const FIXED_WINDOW = `
local function fw_charge(key, cost)
  local count = redis.call('INCRBY', key, cost)
  local ttl = redis.call('PTTL', key)
  if ttl < 1 then return count, -2, 0 end
  return count, ttl, count - cost
end

local function fw_settle(allowed, key, window, cost, count, ttl, used)
  if allowed then
    -- A new window's counter gets its expiry; an existing one, already charged, keeps its own.
    if ttl < 0 then
      redis.call('SET', key, cost, 'PX', window)
      ttl = window
    end
    return ttl, used + cost
  end
  if ttl < 0 and count == cost then
    -- Refused: the counter this call created goes again, so no key is left without an expiry.
    redis.call('DEL', key)
  else
    redis.call('DECRBY', key, cost)
  end
  return ttl, used
end
`;

/**
 * A sliding window's units: one sorted-set member per unit, `<nonce>:<n>`, scored by the time it
 * was taken. A request or give-back may cover up to a whole limit of units, so members go to Redis
 * in chunks: one command per unit would hold the server far longer, and one command for all of
 * them would overflow the stack Lua passes arguments on (about 8,000 values).
 *
 * `sw_add(key, score, nonce, count)` adds `<nonce>:1` to `<nonce>:<count>`;
 * `sw_remove(key, nonce, count)` removes them.
 */
export const SLIDING_WINDOW_UNITS = `
local SW_CHUNK = 1000
local function sw_add(key, score, nonce, count)
  for first = 1, count, SW_CHUNK do
    local args = {}
    for u = first, math.min(count, first + SW_CHUNK - 1) do
      args[#args + 1] = score
      args[#args + 1] = nonce .. ':' .. u
    end
    redis.call('ZADD', key, unpack(args))
  end
end
local function sw_remove(key, nonce, count)
  for first = 1, count, SW_CHUNK do
    local members = {}
    for u = first, math.min(count, first + SW_CHUNK - 1) do members[#members + 1] = nonce .. ':' .. u end
    redis.call('ZREM', key, unpack(members))
  end
end
`;

/**
 * A token bucket's state: its arrival time (TAT) and its epoch, `'<tat> <epoch>'`. The epoch names
 * the bucket from the moment it was last full (absent) until it is full again: a refund of a
 * charge counted in it must find the same epoch, not a bucket that refilled or was reset since.
 * An epoch-less value (written before epochs) reads with epoch ''.
 */
export const TOKEN_BUCKET = `
local function tb_read(key)
  local value = redis.call('GET', key)
  if not value then return 0, '' end
  local tat, epoch = string.match(value, '^(%S+) ?(%S*)$')
  return tonumber(tat), epoch
end
`;

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
 * ARGV[3+6n]   '1' to decide and report only (`peek`): nothing is charged and no block started
 * ARGV[4+6n]   '1' to report what each limit's charge was counted in (a refundable request)
 * Reply: { allowed 0|1, then four values per limit: allowed 0|1, remaining, reset ms, retry ms },
 * then, when asked, one charge per limit ('' when not charged): a fixed window's expiry time
 * (PEXPIRETIME, fixed for the window's life: a counter holds nothing else to name it by, so a
 * window that starts within the same millisecond as a reset one's would pass for it), the call's
 * nonce (its sliding-window members), a token bucket's epoch.
 * Every key shares one {hash tag}, so the script runs on Redis Cluster; every write sets its expiry
 * in this same script, so no key can live without one.
 */
export const RATE_LIMIT = script(`${FIXED_WINDOW}${SLIDING_WINDOW_UNITS}${TOKEN_BUCKET}
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
local dry = ARGV[3 + 6 * n] == '1'
local refundable = ARGV[4 + 6 * n] == '1'
-- Floating-point slack for GCRA sums such as 3 x (1000 / 3), which may land a hair above 1000.
local EPS = 1e-6
-- Scores and times are written with 3 decimals (microseconds); tostring would keep only 14 digits.
local function ms(x) return string.format('%.3f', x) end

-- Phase 1: read every limit's state and decide. Only fixed windows are charged here;
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
    if dry then
      -- Read only: a counter without expiry, or in its last millisecond, is no running window (as
      -- fw_charge treats it).
      s.ttl = redis.call('PTTL', s.key)
      s.used = s.ttl < 1 and 0 or tonumber(redis.call('GET', s.key) or '0')
      if s.ttl < 1 then s.ttl = -2 end
    else
      s.count, s.ttl, s.used = fw_charge(s.key, s.cost)
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
    s.tat, s.epoch = tb_read(s.key)
    -- A bucket that filled up in the past carries no debt, and a charge starts a new epoch.
    if s.tat < now or s.epoch == '' then s.epoch = nonce end
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
local charge = allowed and not dry
for i = 1, n do
  local s = states[i]
  if s.algorithm == 'fw' then
    if not dry then
      s.ttl, s.used = fw_settle(allowed, s.key, s.window, s.cost, s.count, s.ttl, s.used)
    end
    s.remaining = s.limit - s.used
    -- No window running (nothing charged yet): the quota is whole now.
    s.reset = s.ttl > 0 and s.ttl or 0
  elseif s.algorithm == 'sw' then
    if charge then
      -- One member per unit, unique per call; the set expires when its newest unit leaves the window.
      sw_add(s.key, ms(now), nonce, s.cost)
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
    if charge then
      -- The arrival time, expiring when the bucket is full again (an absent key means full).
      redis.call('SET', s.key, ms(s.after) .. ' ' .. s.epoch, 'PX', math.max(1, math.ceil(s.after - now)))
      held = s.after
    end
    s.remaining = math.floor((s.window - (held - now)) / s.interval + EPS)
    s.reset = held - now
  end
  if not allowed and not dry and not s.ok and not s.blocked and s.block > 0 then
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
if refundable then
  for i = 1, n do
    local s = states[i]
    local charged = ''
    if charge then
      if s.algorithm == 'fw' then charged = tostring(redis.call('PEXPIRETIME', s.key))
      elseif s.algorithm == 'sw' then charged = nonce
      else charged = s.epoch end
    end
    reply[#reply + 1] = charged
  end
end
return reply
`);

/**
 * `RATE_LIMIT` for the common case, fixed windows only and none that blocks: the same decision
 * and the same reply, without the general script's table per limit, clock or block record, which
 * cost Redis more than the commands themselves.
 *
 * KEYS as `RATE_LIMIT` (the block record first, unused here); ARGV[1] n, then three values per
 * limit: limit, window ms, cost; then '1' to report each window's expiry time (PEXPIRETIME) as the
 * charge, as `RATE_LIMIT` does.
 */
export const FIXED_WINDOWS = script(`${FIXED_WINDOW}
local n = tonumber(ARGV[1])
local counts, ttls, used = {}, {}, {}
local allowed = true
for i = 1, n do
  local limit, cost = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i + 1])
  counts[i], ttls[i], used[i] = fw_charge(KEYS[i + 1], cost)
  if used[i] + cost > limit then allowed = false end
end
local reply = { allowed and 1 or 0 }
for i = 1, n do
  local limit = tonumber(ARGV[3 * i - 1])
  local window, cost = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local ok = used[i] + cost <= limit
  local ttl, u = fw_settle(allowed, KEYS[i + 1], window, cost, counts[i], ttls[i], used[i])
  reply[#reply + 1] = ok and 1 or 0
  reply[#reply + 1] = math.max(0, limit - u)
  reply[#reply + 1] = ttl > 0 and ttl or 0
  reply[#reply + 1] = ok and 0 or ttl
end
if ARGV[2 + 3 * n] == '1' then
  for i = 1, n do
    reply[#reply + 1] = allowed and tostring(redis.call('PEXPIRETIME', KEYS[i + 1])) or ''
  end
end
return reply
`);
