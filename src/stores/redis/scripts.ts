import { script } from './lua-script.js';

/**
 * The Lua scripts behind idempotency records and leases, each one atomic decision (run as
 * commands of the client: see script-commands.ts).
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
