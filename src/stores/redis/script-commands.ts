import type { Cluster, Redis } from 'ioredis';

import type { LuaScript } from './lua-script.js';
import { ADJUST, RESET } from './rate-limit-adjust-scripts.js';
import { FIXED_WINDOWS, RATE_LIMIT } from './rate-limit-scripts.js';
import {
  BEGIN,
  COMPLETE,
  FORGET_RECORD,
  LOCK,
  MARK_UNSTORABLE,
  RAISE_TOKEN,
  RELEASE,
  RENEW,
} from './scripts.js';

/**
 * The store's scripts as commands of its client (ioredis `defineCommand`): sent in full (EVAL) on
 * a connection's first call, by SHA1 (EVALSHA) after, and again in full when a server answers
 * NOSCRIPT (`SCRIPT FLUSH`, a Cluster node that never saw it). `…Buffer` replies with Buffers.
 */
export interface ScriptCommands {
  /** The token of a new take, or the record found and its remaining ms. */
  tollgateBeginBuffer(
    key: string,
    owner: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<number | [Buffer, number]>;
  tollgateComplete(
    key: string,
    owner: string,
    recordTail: string | Buffer,
    retentionMs: number,
  ): Promise<number>;
  tollgateMarkUnstorable(
    key: string,
    owner: string,
    reason: string,
    retentionMs: number,
  ): Promise<number>;
  tollgateRelease(key: string, owner: string): Promise<number>;
  tollgateRenew(key: string, owner: string, leaseMs: number): Promise<number>;
  tollgateLock(
    key: string,
    owner: string,
    ttlMs: number,
  ): Promise<number | string | [string, number]>;
  tollgateForget(key: string): Promise<number>;
  tollgateRaiseToken(key: string, owner: string, token: string): Promise<number>;
  tollgateRateLimit(
    numberOfKeys: number,
    ...keysAndArgs: string[]
  ): Promise<Array<number | string>>;
  tollgateFixedWindows(
    numberOfKeys: number,
    ...keysAndArgs: string[]
  ): Promise<Array<number | string>>;
  tollgateRateLimitAdjust(numberOfKeys: number, ...keysAndArgs: string[]): Promise<number>;
  tollgateRateLimitReset(numberOfKeys: number, ...keysAndArgs: string[]): Promise<number>;
}

/** The commands whose key count varies with the call, which passes it first. */
export type RateLimitCommand = 'tollgateRateLimit' | 'tollgateFixedWindows';

const DEFINITIONS: Array<[name: string, script: LuaScript, numberOfKeys?: number]> = [
  ['tollgateBegin', BEGIN, 1],
  ['tollgateComplete', COMPLETE, 1],
  ['tollgateMarkUnstorable', MARK_UNSTORABLE, 1],
  ['tollgateRelease', RELEASE, 1],
  ['tollgateRenew', RENEW, 1],
  ['tollgateLock', LOCK, 1],
  ['tollgateForget', FORGET_RECORD, 1],
  ['tollgateRaiseToken', RAISE_TOKEN, 1],
  ['tollgateRateLimit', RATE_LIMIT],
  ['tollgateFixedWindows', FIXED_WINDOWS],
  ['tollgateRateLimitAdjust', ADJUST],
  ['tollgateRateLimitReset', RESET],
];

/**
 * Defines the scripts on the client, an application's own included (under names of their own), and
 * returns it typed with them. `defineCommand` over a hand-rolled EVAL/EVALSHA runner: no
 * measurable difference in cost, and ioredis keeps track of what each connection has loaded.
 */
export function defineScripts(client: Redis | Cluster): ScriptCommands {
  for (const [name, { lua }, numberOfKeys] of DEFINITIONS) {
    client.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
  }
  return client as unknown as ScriptCommands;
}
