/**
 * The Lua scripts behind the Redis store. Each is one atomic decision, sent as EVALSHA (EVAL when
 * the server does not know it yet; see `RedisStore.run`).
 *
 * An idempotency record is one string, so taking a free key is a single `SET NX PX`:
 *   p\n<owner>\n<fingerprint>\n                                   in progress
 *   c\n<owner>\n<fingerprint>\n<status>\n<headers JSON>\n<body>     completed (body: any bytes)
 *   u\n<owner>\n<fingerprint>\n<reason>                            finished, not storable
 * The owner (base64url, a dot and a counter) and the fingerprint (base64url) never contain a
 * newline, and JSON escapes its own, so the first newlines always separate the fields. Every write sets the expiry in the same
 * command, so no record can live without one. Every script is safe to run twice with the same
 * arguments (a re-sent command changes nothing more).
 */
/** A script's text and the SHA1 that EVALSHA names it by. */
export interface LuaScript {
    readonly lua: string;
    readonly sha: string;
}
/**
 * KEYS[1] record; ARGV owner, fingerprint, lease ms. Used where Redis refuses `SET ... NX ... GET`
 * (before 7.0); on later versions `RedisStore.begin` does the same with that one native command.
 */
export declare const BEGIN: LuaScript;
/**
 * KEYS[1] record; ARGV owner, `<status>\n<headers JSON>\n<body>` (built by the app, so the script
 * only compares and writes), retention ms. One GET and one SET: the in-progress record is a few
 * dozen bytes, so reading it whole costs less than a GETRANGE and then a GET.
 */
export declare const COMPLETE: LuaScript;
/** KEYS[1] record; ARGV owner, reason, retention ms. */
export declare const MARK_UNSTORABLE: LuaScript;
/** KEYS[1] record; ARGV owner. */
export declare const RELEASE: LuaScript;
/** KEYS[1] record; ARGV owner, lease ms. */
export declare const RENEW: LuaScript;
/** KEYS[1] lock; ARGV ttl ms. Returns -1 when taken now, else the lock's remaining ms. */
export declare const LOCK: LuaScript;
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
export declare const RATE_LIMIT: LuaScript;
/**
 * `RATE_LIMIT` for the common case, fixed windows only and none that blocks: the same decision
 * and the same reply, without the general script's table per limit, clock or block record, which
 * cost more Redis CPU than the commands themselves.
 *
 * KEYS as `RATE_LIMIT` (the block record first, unused here); ARGV[1] n, then three values per
 * limit: limit, window ms, cost.
 */
export declare const FIXED_WINDOWS: LuaScript;
//# sourceMappingURL=scripts.d.ts.map