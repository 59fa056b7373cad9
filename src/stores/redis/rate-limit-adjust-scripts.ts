import { script } from './lua-script.js';
import { SLIDING_WINDOW_UNITS, TOKEN_BUCKET } from './rate-limit-scripts.js';

/** The admin side of rate limiting on Redis: penalties, rewards, refunds, and resets. */

/**
 * Takes units from limits or gives them back, whatever the limits say (`RateLimitStore.adjust`):
 * penalties, rewards, and refunds of requests that should not count. Same semantics as
 * `InProcessRateLimiter.adjustNow`. A penalty at most empties a quota, so it never reaches further
 * than one window; units given back never take a limit below empty.
 *
 * A refund names its charge (`RateLimitState.charge`): its units are given back only from what
 * the charge was counted in, and only while that still stands (a window or bucket started since,
 * or a reset, leaves nothing of it to give back).
 *
 * KEYS as `RATE_LIMIT` (the block record first, untouched here); ARGV[1] n, then five values per
 * limit: algorithm ('fw', 'sw', 'tb'), limit, window ms, units (> 0 taken, < 0 given back), and the
 * charge given back ('' for none); then a nonce unique to this call for the members it adds.
 */
export const ADJUST = script(`${SLIDING_WINDOW_UNITS}${TOKEN_BUCKET}
local n = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local nonce = ARGV[2 + 5 * n]
local function ms(x) return string.format('%.3f', x) end
for i = 1, n do
  local a = 1 + (i - 1) * 5
  local algorithm, limit = ARGV[a + 1], tonumber(ARGV[a + 2])
  local window, units = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local charge = ARGV[a + 5]
  local key = KEYS[i + 1]
  if units < 0 and charge ~= '' and algorithm == 'fw' then
    -- The charge's window has ended (or was reset) unless the counter still expires when it did.
    if tostring(redis.call('PEXPIRETIME', key)) ~= charge then units = 0 end
  end
  if units < 0 and charge ~= '' and algorithm == 'sw' then
    -- Exactly the request's own units still in the window: those that left it are gone already.
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ms(now - window))
    sw_remove(key, charge, -units)
    units = 0
  end
  if units ~= 0 and algorithm == 'fw' then
    -- A counter without expiry, or in its last millisecond, is no running window: treat it as
    -- empty, as fw_charge does.
    local ttl = redis.call('PTTL', key)
    local used = ttl < 1 and 0 or tonumber(redis.call('GET', key) or '0')
    if units > 0 then
      local taken = math.min(units, limit - used)
      if taken > 0 then
        if ttl < 1 then redis.call('SET', key, taken, 'PX', window)
        else redis.call('INCRBY', key, taken) end
      end
    elseif used + units <= 0 then
      -- Emptied: the counter goes, and the next request starts a window.
      redis.call('DEL', key)
    else
      redis.call('DECRBY', key, -units)
    end
  elseif units ~= 0 and algorithm == 'sw' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ms(now - window))
    if units > 0 then
      local taken = math.min(units, limit - redis.call('ZCARD', key))
      if taken > 0 then
        sw_add(key, ms(now), nonce, taken)
        redis.call('PEXPIRE', key, math.ceil(window))
      end
    else
      -- The oldest units go: the rest leave the window no earlier than the given-back ones would.
      redis.call('ZPOPMIN', key, -units)
    end
  elseif units ~= 0 then
    local interval = window / limit
    local tat, epoch = tb_read(key)
    -- A refund's bucket must be the one it was charged in, not one refilled or reset since.
    if units < 0 and charge ~= '' and (tat < now or epoch ~= charge) then units = 0 end
    if tat < now or epoch == '' then epoch = nonce end
    if tat < now then tat = now end
    if units > 0 then tat = math.min(tat + units * interval, now + window)
    elseif units < 0 then tat = math.max(now, tat + units * interval) end
    if units == 0 then
      -- Nothing to change.
    elseif tat > now then
      redis.call('SET', key, ms(tat) .. ' ' .. epoch, 'PX', math.max(1, math.ceil(tat - now)))
    else
      redis.call('DEL', key)
    end
  end
end
return 1
`);

/**
 * Forgets a client's state on the named limits, and their blocks (`RateLimitStore.reset`).
 * KEYS as `RATE_LIMIT`; ARGV: the limits' names (fields of the block record).
 */
export const RESET = script(`
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
for i = 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
return 1
`);
