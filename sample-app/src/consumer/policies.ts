/**
 * The sample consumer's queue and its effect, framework-free. Messages `{ id, seq }` must be
 * applied in `seq` order (a policy under a group needs the group first), so one process consumes at
 * a time; applying one appends its id to a Redis list, through a write fenced by the lease's token.
 */
import type { Cluster, Redis } from 'ioredis';

/** The durable queue the sample consumes. */
export const POLICY_QUEUE = 'tollgate-sample.policies';

/** The lease every instance of the consumer contends for. */
export const CONSUMER_LEASE = 'policy-consumer';

/** The Redis keys of the consumer, beside (never among) Tollgate's own `tollgate:` keys. */
export const POLICY_KEYS = {
  /** One id per applied message, in the order applied: the effect the consumer exists for. */
  applied: 'tollgate-sample:applied',
  /** The ids in `applied`, for the write's own check. */
  appliedIds: 'tollgate-sample:applied:ids',
  /** The highest fencing token that has written: a lower one is a holder that lost its lease. */
  fence: 'tollgate-sample:applied:fence',
} as const;

/** A message of the queue. */
export interface PolicyMessage {
  id: string;
  seq: number;
}

/**
 * Applies one message, fenced, in one step. KEYS: fence, applied, appliedIds. ARGV: token, id.
 * Refuses (nil) a token lower than the highest seen, else records it. Replies 0 when the id was
 * applied already: Tollgate's record stops every redelivery but one, of a message whose holder
 * died between this write and the record, and for that one the effect checks the id itself, in
 * the same step. Replies 1 when applied. Tokens are compared as numbers (16 digits, exact in a Lua
 * double) and stored as the text the app sent.
 */
export const APPLY_POLICY = `
local seen = redis.call('GET', KEYS[1])
if seen and tonumber(seen) > tonumber(ARGV[1]) then return false end
redis.call('SET', KEYS[1], ARGV[1])
if redis.call('SADD', KEYS[3], ARGV[2]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
`;

/** A newer holder has written: this one lost its lease, whatever its signal says yet. */
export class FencedOutError extends Error {
  constructor(fencingToken: number) {
    super(`fencing token ${fencingToken} is stale: a newer holder has written`);
  }
}

/** Applies `id` under `fencingToken`: `applied`, `already` (applied before), or throws when fenced out. */
export async function applyPolicy(
  client: Redis | Cluster,
  id: string,
  fencingToken: number,
): Promise<'applied' | 'already'> {
  const { fence, applied, appliedIds } = POLICY_KEYS;
  const reply = await client.eval(
    APPLY_POLICY,
    3,
    fence,
    applied,
    appliedIds,
    String(fencingToken),
    id,
  );
  if (reply === null) throw new FencedOutError(fencingToken);
  return reply === 1 ? 'applied' : 'already';
}

/** The message's payload, or an error naming what is wrong with it. */
export function parsePolicy(content: Uint8Array): PolicyMessage {
  const data = JSON.parse(Buffer.from(content).toString('utf8')) as Partial<PolicyMessage>;
  if (typeof data.id !== 'string' || typeof data.seq !== 'number') {
    throw new Error('a policy message is JSON { id: string, seq: number }');
  }
  return { id: data.id, seq: data.seq };
}
