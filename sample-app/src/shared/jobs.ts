/**
 * The jobs of the sample worker, framework-free: one consumer among several instances, the one
 * holding the exclusive lease. A job is an id pushed to a Redis list; processing it appends the id
 * to another list (its effect). Jobs are taken reliably (moved to an in-flight list, so a holder
 * that dies mid-job loses nothing) and every write is fenced by the lease's token, so a holder that
 * stalled past its lease cannot take or finish a job once a newer holder has written: each job's
 * effect is written exactly once.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Cluster, Redis } from 'ioredis';

import type { ExclusiveLease } from 'tollgate';

/** The Redis keys of the worker, beside (never among) Tollgate's own `tollgate:` keys. */
export const JOB_KEYS = {
  /** Waiting jobs: `RPUSH tollgate-sample:jobs <id>` adds one. */
  jobs: 'tollgate-sample:jobs',
  /** Jobs taken by a holder and not finished yet: what a new holder finishes first. */
  processing: 'tollgate-sample:jobs:processing',
  /** One id per job done: the effect the worker exists for. */
  effects: 'tollgate-sample:effects',
  /** The highest fencing token that has written: a lower one is a holder that lost its lease. */
  fence: 'tollgate-sample:worker-fence',
} as const;

/** The lease every instance of the worker contends for. */
export const WORKER_LEASE = 'sample-worker';

/*
 * Both scripts start with the same fence: refuse (reply nil) if a higher token was seen, else
 * record this one. Tokens are compared as numbers (16 digits, exact in a Lua double) and stored as
 * the text the app sent, never re-formatted by Lua.
 */
const FENCE = `
local seen = redis.call('GET', KEYS[1])
if seen and tonumber(seen) > tonumber(ARGV[1]) then return false end
redis.call('SET', KEYS[1], ARGV[1])
`;

/**
 * Takes work, fenced. KEYS: fence, jobs, processing. ARGV: token, mode. Mode `resume`: the ids
 * left in processing by earlier holders; the first call of a new holder, so its token is recorded
 * before it reads them and no earlier holder can add to the list after. Mode `next`: moves the next
 * waiting job to processing (LMOVE) and replies `{ id }`, or `{}` when there is none. Nil: refused.
 */
export const TAKE_JOBS = `${FENCE}
if ARGV[2] == 'resume' then return redis.call('LRANGE', KEYS[3], 0, -1) end
local id = redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT')
if id then return {id} end
return {}
`;

/**
 * Finishes a job, fenced, in one step: its effect is written and it leaves processing together, so
 * a job is either done or still to do, whatever happens to the process. KEYS: fence, processing,
 * effects. ARGV: token, id. Replies 1 (done), 0 (no longer in processing: done already, so no
 * second effect), nil (refused: a newer holder has written).
 */
export const COMPLETE_JOB = `${FENCE}
if redis.call('LREM', KEYS[2], 1, ARGV[2]) == 0 then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
`;

/** A newer holder has written: this one lost its lease, whatever its signal says yet. */
export class FencedOutError extends Error {
  constructor(fencingToken: number) {
    super(`fencing token ${fencingToken} is stale: a newer holder has written`);
  }
}

export interface ConsumeOptions {
  /** How long processing one job takes. */
  workMs: number;
  /** How long to wait before looking again when no job is waiting. */
  idleMs?: number;
  /** One line per event. */
  log: (line: string) => void;
}

/**
 * The work of the lease holder, for `ExclusiveLeases.lead()`: finishes the jobs earlier holders
 * left in processing, then takes new ones, until the lease's signal aborts (lost, or released on
 * shutdown). It rejects then, or when the fence refuses a write; `lead()` stands by again.
 */
export async function consumeJobs(
  client: Redis | Cluster,
  lease: ExclusiveLease,
  { workMs, idleMs = 50, log }: ConsumeOptions,
): Promise<void> {
  const { signal, fencingToken } = lease;
  const token = String(fencingToken);
  const take = async (mode: 'resume' | 'next'): Promise<string[]> => {
    lease.throwIfLost();
    const { jobs, processing, fence } = JOB_KEYS;
    const ids = (await client.eval(TAKE_JOBS, 3, fence, jobs, processing, token, mode)) as
      string[] | null;
    if (ids === null) throw new FencedOutError(fencingToken);
    return ids;
  };

  // Whatever a holder that died or stalled had taken: not lost, and done before anything new.
  const pending = await take('resume');
  for (;;) {
    signal.throwIfAborted();
    const id = pending.shift() ?? (await take('next'))[0];
    if (id === undefined) {
      await sleep(idleMs, undefined, { signal });
      continue;
    }
    // The job itself; the signal stops it as soon as the lease may go to another instance.
    await sleep(workMs, undefined, { signal });
    // The lease is checked before writing, and the fence refuses the write of a holder that
    // stalled right after this check, past its lease, once a newer holder has written.
    lease.throwIfLost();
    const { processing, effects, fence } = JOB_KEYS;
    const done = await client.eval(COMPLETE_JOB, 3, fence, processing, effects, token, id);
    if (done === null) {
      log(`refused the write of ${id} (a newer holder has written)`);
      throw new FencedOutError(fencingToken);
    }
    log(done === 1 ? `processed ${id}` : `skipped ${id} (done already)`);
  }
}
