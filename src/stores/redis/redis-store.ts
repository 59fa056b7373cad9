import type { Cluster, Redis } from 'ioredis';

import { assertFencingToken } from '../../core/fencing-token.js';
import type {
  BeginResult,
  FencingToken,
  LockResult,
  RateLimitConsumeOptions,
  RateLimitResult,
  RateLimitRule,
  RecordInvalidations,
  StoredResponse,
  StoreHealth,
  StoreHealthOptions,
  TollgateStore,
  UnstorableReason,
} from '../../core/store.js';

import { TurnBatcher } from './batching.js';
import {
  closeConnection,
  openConnection,
  whenReady,
  type Connection,
  type RedisStoreOptions,
} from './connection.js';
import { pingHealth } from './health.js';
import { RedisInvalidations } from './invalidations.js';
import {
  adjustCall,
  peekCall,
  rateLimitCall,
  readRateLimitReply,
  resetCall,
} from './rate-limit-call.js';
import { acquired, readHeldRecord, recordTail } from './record-codec.js';
import { defineScripts, type ScriptCommands } from './script-commands.js';
import { FORGOTTEN_CHANNEL } from './scripts.js';

export { SAFE_CLIENT_DEFAULTS, type RedisStoreOptions, type StoreLogger } from './connection.js';

/**
 * The store for real deployments: every decision is one Lua script, one round trip. Works on a
 * single node, behind Sentinel and on Cluster (each script touches one key, or keys that share one
 * `{hash tag}`).
 */
export class RedisStore implements TollgateStore {
  readonly kind = 'redis';
  readonly client: Redis | Cluster;
  readonly location: string;
  private readonly connection: Connection;
  private readonly batcher: TurnBatcher;
  private feed: RedisInvalidations | undefined;

  constructor(options: RedisStoreOptions) {
    this.connection = openConnection(options);
    this.client = this.connection.client;
    this.location = this.connection.location;
    defineScripts(this.client);
    this.batcher = new TurnBatcher(this.client);
  }

  ready(): Promise<void> {
    return whenReady(this.client);
  }

  connectionProblem(): string | undefined {
    if (this.client.status === 'ready') return undefined;
    return this.connection.lastError()?.message ?? `the connection is ${this.client.status}`;
  }

  close(): Promise<void> {
    this.feed?.close();
    return closeConnection(this.connection);
  }

  /** Every process's announcements, on a subscribed connection of the store's own. */
  invalidations(): RecordInvalidations {
    return (this.feed ??= new RedisInvalidations(this.client));
  }

  /** A bounded `PING` (every master on Cluster): down when the server is gone, silent or slow. */
  health(options?: StoreHealthOptions): Promise<StoreHealth> {
    return pingHealth(this.client, options);
  }

  async begin(
    key: string,
    owner: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<BeginResult> {
    const reply = await this.scripts().tollgateBeginBuffer(key, owner, fingerprint, leaseMs);
    if (typeof reply === 'number') return acquired(reply);
    return readHeldRecord(key, reply[0], reply[1], owner, fingerprint);
  }

  async complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    const tail = recordTail(response);
    return (await this.scripts().tollgateComplete(key, owner, tail, retentionMs)) === 1;
  }

  async markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean> {
    return (await this.scripts().tollgateMarkUnstorable(key, owner, reason, retentionMs)) === 1;
  }

  async release(key: string, owner: string): Promise<boolean> {
    return (await this.scripts().tollgateRelease(key, owner)) === 1;
  }

  async forget(key: string): Promise<boolean> {
    try {
      return (await this.scripts().tollgateForget(key)) === 1;
    } finally {
      // This process's caches forget it before the caller hears it is done (see `removed`).
      this.feed?.removed(key);
    }
  }

  async raiseToken(key: string, owner: string, token: FencingToken): Promise<boolean> {
    assertFencingToken(token);
    return (await this.scripts().tollgateRaiseToken(key, owner, String(token))) === 1;
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.scripts().tollgateRenew(key, owner, leaseMs)) === 1;
  }

  async lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    const reply = await this.scripts().tollgateLock(key, owner, ttlMs);
    // A new take replies its token as an integer, a re-sent one as text, a refusal as a pair.
    return Array.isArray(reply)
      ? { acquired: false, retryAfterMs: Math.max(0, Number(reply[1])) }
      : { acquired: true, fencingToken: Number(reply) };
  }

  async consume(
    key: string,
    rules: readonly RateLimitRule[],
    options?: RateLimitConsumeOptions,
  ): Promise<RateLimitResult> {
    const { command, numberOfKeys, keysAndArgs } = rateLimitCall(
      key,
      rules,
      options?.refundable === true,
    );
    const reply = await this.scripts()[command](numberOfKeys, ...keysAndArgs);
    const result = readRateLimitReply(rules, reply);
    // A refused request is charged nothing, and other requests only take more: until the retry
    // time the script reported, only a reset or a give-back (both announced) admits it earlier.
    if (!result.allowed) result.refusedForMs = result.retryAfterMs;
    return result;
  }

  async peek(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    const { command, numberOfKeys, keysAndArgs } = peekCall(key, rules);
    const reply = await this.scripts()[command](numberOfKeys, ...keysAndArgs);
    return readRateLimitReply(rules, reply);
  }

  async adjust(
    key: string,
    rules: readonly RateLimitRule[],
    units: readonly number[],
    charges?: readonly (string | undefined)[],
  ): Promise<void> {
    if (units.every((unit) => unit === 0)) return;
    const adjusted = this.scripts().tollgateRateLimitAdjust(
      rules.length + 1,
      ...adjustCall(key, rules, units, charges),
    );
    // Units given back may admit a refused client earlier: announced right behind the script, on
    // the same connection, so it reaches other processes after the change is made.
    await (units.some((unit) => unit < 0) ? this.announced(adjusted, key) : adjusted);
  }

  async reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    const reset = this.scripts().tollgateRateLimitReset(rules.length + 1, ...resetCall(key, rules));
    await this.announced(reset, key);
  }

  /** Waits for `change` and the announcement of `key` sent right behind it. */
  private async announced(change: Promise<unknown>, key: string): Promise<void> {
    try {
      await Promise.all([change, this.batcher.batched().publish(FORGOTTEN_CHANNEL, key)]);
    } finally {
      // Every engine of this process on this store hears it before the caller (see `removed`).
      this.feed?.removed(key);
    }
  }

  /** The client with the store's scripts, in this turn's batch. */
  private scripts(): ScriptCommands {
    return this.batcher.batched() as unknown as ScriptCommands;
  }
}
