import type { Cluster, Redis } from 'ioredis';

import type {
  BeginResult,
  LockResult,
  RateLimitConsumeOptions,
  RateLimitResult,
  RateLimitRule,
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
import {
  adjustCall,
  peekCall,
  rateLimitCall,
  readRateLimitReply,
  resetCall,
} from './rate-limit-call.js';
import { ACQUIRED_REPLY, acquired, fenceKey, readHeldRecord, recordTail } from './record-codec.js';
import { defineScripts, type ScriptCommands } from './script-commands.js';

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
    return closeConnection(this.connection);
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
    const reply = await this.scripts().tollgateBeginBuffer(
      key,
      fenceKey(key),
      owner,
      fingerprint,
      leaseMs,
    );
    if (reply[0].equals(ACQUIRED_REPLY)) return acquired(reply[1]);
    const found = readHeldRecord(key, reply[1], owner, fingerprint);
    if (found) return found;
    const remaining = await this.batcher.batched().pttl(key);
    return { state: 'in-progress', retryAfterMs: Math.max(0, remaining) };
  }

  async complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    const tail = recordTail(response);
    return (
      (await this.scripts().tollgateComplete(key, fenceKey(key), owner, tail, retentionMs)) === 1
    );
  }

  async markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean> {
    const scripts = this.scripts();
    return (
      (await scripts.tollgateMarkUnstorable(key, fenceKey(key), owner, reason, retentionMs)) === 1
    );
  }

  async release(key: string, owner: string): Promise<boolean> {
    return (await this.scripts().tollgateRelease(key, owner)) === 1;
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.scripts().tollgateRenew(key, fenceKey(key), owner, leaseMs)) === 1;
  }

  async lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    const reply = await this.scripts().tollgateLock(key, fenceKey(key), owner, ttlMs);
    return reply[0] === 'acquired'
      ? { acquired: true, fencingToken: Number(reply[1]) }
      : { acquired: false, retryAfterMs: Math.max(0, Number(reply[1])) };
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
    return readRateLimitReply(rules, reply);
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
    await this.scripts().tollgateRateLimitAdjust(
      rules.length + 1,
      ...adjustCall(key, rules, units, charges),
    );
  }

  async reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    await this.scripts().tollgateRateLimitReset(rules.length + 1, ...resetCall(key, rules));
  }

  /** The client with the store's scripts, in this turn's batch. */
  private scripts(): ScriptCommands {
    return this.batcher.batched() as unknown as ScriptCommands;
  }
}
