import { uniqueToken } from '../../core/lease/take.js';
import { ALGORITHM_CODES, blockKey, ruleKey } from '../../core/ratelimit/rule-keys.js';
import type { RateLimitResult, RateLimitRule, RateLimitState } from '../../core/store.js';

import type { RateLimitCommand } from './script-commands.js';

/** Which script decides for a set of rules, and the rules' part of its arguments. */
interface RulesCall {
  command: RateLimitCommand;
  /** Already strings, so ioredis converts nothing per call. */
  args: readonly string[];
  /** Whether a nonce follows (sliding-window members must be unique across app servers). */
  nonce: boolean;
}

/**
 * Built once per rules array (a route's, which never changes), not per request: fixed windows that
 * never block take the lean script, anything else the general one.
 */
const rulesCalls = new WeakMap<readonly RateLimitRule[], RulesCall>();
function rulesCall(rules: readonly RateLimitRule[]): RulesCall {
  let call = rulesCalls.get(rules);
  if (!call) {
    const lean = rules.every((rule) => rule.algorithm === 'fixed-window' && rule.blockMs <= 0);
    const args = [String(rules.length)];
    for (const rule of rules) {
      if (lean) args.push(String(rule.limit), String(rule.windowMs), String(rule.cost));
      else {
        args.push(
          rule.name,
          ALGORITHM_CODES[rule.algorithm],
          String(rule.limit),
          String(rule.windowMs),
          String(rule.cost),
          String(rule.blockMs),
        );
      }
    }
    call = lean
      ? { command: 'tollgateFixedWindows', args, nonce: false }
      : { command: 'tollgateRateLimit', args, nonce: true };
    rulesCalls.set(rules, call);
  }
  return call;
}

/** One rate-limit script call: which script, how many of `keysAndArgs` are keys. */
export interface RateLimitCall {
  command: RateLimitCommand;
  numberOfKeys: number;
  keysAndArgs: string[];
}

/**
 * Every key derives from `key`, so all of them share its {hash tag}: one slot, one script.
 * KEYS: the block record, then one state key per limit; ARGV: the rules, then a nonce (and for the
 * general script, `dry`), then whether to report the charges (`refundable`).
 */
export function rateLimitCall(
  key: string,
  rules: readonly RateLimitRule[],
  refundable = false,
): RateLimitCall {
  const { command, args, nonce } = rulesCall(rules);
  const keysAndArgs: string[] = [blockKey(key)];
  for (const rule of rules) keysAndArgs.push(ruleKey(key, rule));
  for (const arg of args) keysAndArgs.push(arg);
  if (nonce) keysAndArgs.push(uniqueToken());
  if (refundable) {
    if (nonce) keysAndArgs.push('0');
    keysAndArgs.push('1');
  }
  return { command, numberOfKeys: rules.length + 1, keysAndArgs };
}

/** `peek`: the general script, told to decide and report only. */
export function peekCall(key: string, rules: readonly RateLimitRule[]): RateLimitCall {
  const keysAndArgs: string[] = [blockKey(key)];
  for (const rule of rules) keysAndArgs.push(ruleKey(key, rule));
  keysAndArgs.push(String(rules.length));
  for (const rule of rules) {
    keysAndArgs.push(
      rule.name,
      ALGORITHM_CODES[rule.algorithm],
      String(rule.limit),
      String(rule.windowMs),
      String(rule.cost),
      String(rule.blockMs),
    );
  }
  keysAndArgs.push(uniqueToken(), '1');
  return { command: 'tollgateRateLimit', numberOfKeys: rules.length + 1, keysAndArgs };
}

/** `adjust`: the block record and each limit's key, then five values per limit and a nonce. */
export function adjustCall(
  key: string,
  rules: readonly RateLimitRule[],
  units: readonly number[],
  charges: readonly (string | undefined)[] = [],
): string[] {
  const keysAndArgs: string[] = [blockKey(key)];
  for (const rule of rules) keysAndArgs.push(ruleKey(key, rule));
  keysAndArgs.push(String(rules.length));
  rules.forEach((rule, index) => {
    keysAndArgs.push(
      ALGORITHM_CODES[rule.algorithm],
      String(rule.limit),
      String(rule.windowMs),
      String(units[index] ?? 0),
      charges[index] ?? '',
    );
  });
  keysAndArgs.push(uniqueToken());
  return keysAndArgs;
}

/** `reset`: the block record and each limit's key, then the limits' names. */
export function resetCall(key: string, rules: readonly RateLimitRule[]): string[] {
  const keysAndArgs: string[] = [blockKey(key)];
  for (const rule of rules) keysAndArgs.push(ruleKey(key, rule));
  for (const rule of rules) keysAndArgs.push(rule.name);
  return keysAndArgs;
}

/**
 * The script's reply: allowed, then four values per limit (allowed, remaining, reset, retry), then,
 * when asked, each limit's charge. A refused request waits for the slowest of the limits that
 * refused it.
 */
export function readRateLimitReply(
  rules: readonly RateLimitRule[],
  reply: ReadonlyArray<number | string>,
): RateLimitResult {
  const charges = reply.length > 1 + rules.length * 4 ? 1 + rules.length * 4 : -1;
  let slowestRetry = -Infinity;
  const limits: RateLimitState[] = [];
  for (let index = 0; index < rules.length; index++) {
    const at = 1 + index * 4;
    const state: RateLimitState = {
      name: rules[index]!.name,
      allowed: reply[at] === 1,
      remaining: Number(reply[at + 1]),
      resetMs: Number(reply[at + 2]),
      retryAfterMs: Number(reply[at + 3]),
    };
    if (charges > 0 && reply[charges + index] !== '') {
      state.charge = String(reply[charges + index]);
    }
    if (!state.allowed) slowestRetry = Math.max(slowestRetry, state.retryAfterMs);
    limits.push(state);
  }
  const allowed = reply[0] === 1;
  return { allowed, retryAfterMs: allowed ? 0 : slowestRetry, limits };
}
