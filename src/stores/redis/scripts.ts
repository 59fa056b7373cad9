import { script } from './lua-script.js';

/**
 * The Lua scripts behind idempotency records and leases, each one atomic decision (run as
 * commands of the client: see script-commands.ts).
 *
 * An idempotency record is one string, under one key:
 *   p\n<owner>\n<fingerprint>\n<token>\n                                   in progress
 *   c\n<owner>\n<fingerprint>\n<token>\n<status>\n<headers JSON>\n<body>     completed (body: any bytes)
 *   u\n<owner>\n<fingerprint>\n<token>\n<reason>                           finished, not storable
 *   l\n<owner>\n<token>\n                                                   a lock (`lock` strategy)
 *   r\n<token>                                                             given back or forgotten: free
 * The owner (base64url, a dot and a counter), the fingerprint (base64url) and the token (digits)
 * never contain a newline, and JSON escapes its own, so the first newlines always separate the
 * fields. Every write sets the expiry in the same command (or keeps the one the key has), so no
 * record can live without one. Every script is safe to run twice with the same arguments (a
 * re-sent command changes nothing more).
 *
 * Fencing tokens: each take of a key issues a token greater than any issued for it before: the
 * larger of the server's clock in microseconds and the last token plus one. The last token lives
 * in the record itself, for as long as the record does. A record that is given back or forgotten
 * leaves `r\n<token>` behind, with the expiry the record had, so a take right after it (within the
 * same microsecond, or after the server's clock was stepped back) still issues a greater token. A
 * record that expires takes its token with it; it could only expire after the lease (or the
 * retention) it was written with had passed, by which time the server's clock is past every token
 * issued under it, as each one was at most the clock at its take plus the takes since. A token
 * raised to a quorum's (`RAISE_TOKEN`, another server's clock) is behind this server's clock by the
 * time the record expires as long as the two clocks agree to within the lease it was written with.
 *
 * Deleting scripts announce the key on the `tollgate:forgotten` channel, so that every process's
 * cache of completed results forgets it too (see `RedisStore.recordInvalidations`).
 */

/** The channel every record that a script gives back or forgets is announced on. */
export const FORGOTTEN_CHANNEL = 'tollgate:forgotten';

/**
 * `take(last, record, ttl)`: writes `record .. token .. '\n'` with a new token, the larger of the
 * server's clock in µs and `last` + 1, and returns the token (a whole number below 2^53, so the
 * integer reply is exact).
 */
const TAKE = `
local function take(last, record, ttl)
  local clock = redis.call('TIME')
  local token = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  if last >= token then token = last + 1 end
  redis.call('SET', KEYS[1], record .. string.format('%.0f', token) .. '\\n', 'PX', ttl)
  return token
end
`;

/**
 * KEYS[1] record; ARGV owner, fingerprint, lease ms. A free key (absent, expired, or given back) is
 * taken with a new fencing token, the integer reply. A key that is held replies
 * `{record, remaining ms}`, and the app reads the record: no part of a stored body is cut up
 * inside the script, and the remaining time is what a duplicate waits, or what is left of a
 * result's retention.
 */
export const BEGIN = script(`${TAKE}
local found = redis.call('GET', KEYS[1])
local last = 0
if found then
  if string.byte(found, 1) ~= 114 then return {found, redis.call('PTTL', KEYS[1])} end
  last = tonumber(string.sub(found, 3))
end
return take(last, 'p\\n' .. ARGV[1] .. '\\n' .. ARGV[2] .. '\\n', ARGV[3])
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
 * KEYS[1] record; ARGV owner, `<status>\n<headers JSON>\n<body>` (built by the app, so the script
 * only compares and writes), retention ms. One GET and one SET: the in-progress record is a few
 * dozen bytes, so reading it whole costs less than a GETRANGE and then a GET. The token stays in
 * the completed record.
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
return 1
`);

/** KEYS[1] record; ARGV owner, reason, retention ms. */
export const MARK_UNSTORABLE = script(`${HEADER_CHECK}
if not held('p') then return held('u') and 1 or 0 end
local record = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], 'u' .. string.sub(record, 2) .. ARGV[2], 'PX', ARGV[3])
return 1
`);

/**
 * `forget(head)`: replaces the record by `r\n<token>` with the expiry it had, its token read from
 * `head` (the record's first bytes, where every format keeps it), and announces the key.
 */
const FORGET = `
local function forget(head)
  local fields = 0
  local token = '0'
  local want = string.byte(head, 1) == 108 and 3 or 4
  for field in string.gmatch(head, '([^\\n]*)\\n') do
    fields = fields + 1
    if fields == want then token = field break end
  end
  redis.call('SET', KEYS[1], 'r\\n' .. token, 'KEEPTTL')
  redis.call('PUBLISH', '${FORGOTTEN_CHANNEL}', KEYS[1])
end
`;

/**
 * KEYS[1] record; ARGV owner. Only an in-progress lease or a lock this owner still holds: never a
 * finished result, never someone else's. Its token stays behind (see above), so the next take's
 * token is greater.
 */
export const RELEASE = script(`${HEADER_CHECK}${FORGET}
if held('p') or held('l') then
  forget(redis.call('GETRANGE', KEYS[1], 0, 255))
  return 1
end
return 0
`);

/**
 * KEYS[1] record. Forgets the record whatever it holds (an operator's delete, so the request runs
 * again), keeping its token. 0 when there was nothing to forget.
 */
export const FORGET_RECORD = script(`${FORGET}
local head = redis.call('GETRANGE', KEYS[1], 0, 255)
if head == '' or string.byte(head, 1) == 114 then return 0 end
forget(head)
return 1
`);

/**
 * KEYS[1] record (in progress, or a lock); ARGV owner, token. Rewrites the record's token to
 * `token` if it is lower, keeping the rest of the record and its expiry, so a re-sent take reports
 * it and a release leaves it behind. 1 while this owner holds the key (raised or already as high),
 * else 0. The token is the third field of a lock and the fourth of an in-progress record.
 */
export const RAISE_TOKEN = script(`
local record = redis.call('GET', KEYS[1])
if not record then return 0 end
local state = string.sub(record, 1, 1)
if state ~= 'p' and state ~= 'l' then return 0 end
local head = state .. '\\n' .. ARGV[1] .. '\\n'
if string.sub(record, 1, #head) ~= head then return 0 end
local from = #head + 1
if state == 'p' then from = string.find(record, '\\n', from, true) + 1 end
local to = string.find(record, '\\n', from, true)
local wanted = tonumber(ARGV[2])
if wanted > tonumber(string.sub(record, from, to - 1)) then
  local raised = string.sub(record, 1, from - 1) .. string.format('%.0f', wanted)
  redis.call('SET', KEYS[1], raised .. string.sub(record, to), 'KEEPTTL')
end
return 1
`);

/** KEYS[1] record (in progress, or a lock held as an exclusive lease); ARGV owner, lease ms. */
export const RENEW = script(`${HEADER_CHECK}
if held('p') or held('l') then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

/**
 * KEYS[1] lock; ARGV owner, ttl ms. Replies the token (an integer) when taken now, or the token as
 * text when already held by this owner (a re-sent call), else `{'held', remaining ms}`.
 */
export const LOCK = script(`${TAKE}
local found = redis.call('GET', KEYS[1])
local last = 0
if found then
  if string.byte(found, 1) ~= 114 then
    local head = 'l\\n' .. ARGV[1] .. '\\n'
    if string.sub(found, 1, #head) == head then return string.sub(found, #head + 1, -2) end
    return {'held', redis.call('PTTL', KEYS[1])}
  end
  last = tonumber(string.sub(found, 3))
end
return take(last, 'l\\n' .. ARGV[1] .. '\\n', ARGV[2])
`);
