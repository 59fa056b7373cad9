import { TollgateConfigError } from '../core/errors.js';
import { MessageOnce, type OnceOptions } from '../core/idempotency/once.js';
import type { IdempotencyLease } from '../core/lease/lease.js';
import type { IdempotencyStore } from '../core/store.js';

/*
 * BullMQ's job and processor, by the parts used here, so Tollgate never imports bullmq: a BullMQ
 * `Job` fits `BullJob`, and what `idempotentProcessor()` returns fits BullMQ's `Processor`.
 */

/** A BullMQ job, as far as its record needs it. */
export interface BullJob<Data = unknown> {
  id?: string | undefined;
  name: string;
  queueName: string;
  data: Data;
}

/** What a job's work gets beside the job. */
export interface JobContext {
  /** The job's key (`job.id`, or what `key` returned). */
  key: string;
  /**
   * The job's lease: a fencing token greater than that of every earlier run of this job (a worker
   * that stalled and a stalled-job recovery never both write), and a signal that aborts when the
   * lease is lost or BullMQ cancels the job.
   */
  lease: IdempotencyLease;
  /** `lease.fencingToken`. */
  fencingToken: number;
  /** Aborts when the job's lease is lost, or when BullMQ cancels the job. */
  signal: AbortSignal;
  /** BullMQ's lock token of this run. */
  token: string | undefined;
}

/** Options of `idempotentProcessor()`. */
export interface IdempotentJobOptions<Data = unknown> extends Omit<OnceOptions, 'namespace'> {
  /** The job's key. Default `job.id`: set `jobId` when adding jobs that must run once. */
  key?: (job: BullJob<Data>) => string | undefined;
  /** Prefix of the records' keys. Default `tollgate`. */
  namespace?: string;
}

/**
 * Wraps a BullMQ processor so that each job's work runs at most once per key (the job id by
 * default), however often BullMQ hands the job over: a stalled job recovered by another worker, a
 * job retried after its work succeeded but the worker died before BullMQ recorded it, the same
 * `jobId` added again after the first was removed. A job whose work ran already completes with
 * the first run's return value (as JSON carries it) without running again.
 *
 * Each run holds the job's lease while it works: a worker that stalls (GC, a frozen VM) past it is
 * told by the signal, and its writes can be refused by the fencing token, which grows with every
 * run of the job. A redelivered job waits for a run still in progress elsewhere (up to `lease`),
 * then runs if that run died.
 *
 * @example
 * ```ts
 * const worker = new Worker('payments', idempotentProcessor(store, async (job, { fencingToken }) => {
 *   return ledger.charge(job.data, { fencingToken });
 * }), { connection });
 * ```
 */
export function idempotentProcessor<Data = unknown, Result = unknown>(
  store: IdempotencyStore,
  work: (job: BullJob<Data>, context: JobContext) => Promise<Result> | Result,
  options: IdempotentJobOptions<Data> = {},
): (job: BullJob<Data>, token?: string, signal?: AbortSignal) => Promise<Result | undefined> {
  if (typeof store?.begin !== 'function') {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_CONSUMER',
      'idempotentProcessor(): the first argument must be a Tollgate store',
    );
  }
  if (typeof work !== 'function') {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_CONSUMER',
      'idempotentProcessor(): the second argument must be the job processor, (job, context) => result',
    );
  }
  if (options.key !== undefined && typeof options.key !== 'function') {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_CONSUMER',
      'idempotentProcessor(): `key` must be a function of the job',
    );
  }
  const { key: keyOf, ...once } = options;
  const runner = new MessageOnce(store, once);
  return async (job, token, cancelled) => {
    const key = keyOf ? keyOf(job) : job.id;
    if (typeof key !== 'string' || key === '') {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_CONSUMER',
        `idempotentProcessor(): job ${String(job.id)} of ${job.queueName} has no key: give jobs an id, or a \`key\` option that returns one`,
      );
    }
    const outcome = await runner.run(
      { route: `bullmq ${job.queueName} ${job.name}`, id: key, data: job.data },
      (lease) =>
        work(job, {
          key,
          lease,
          fencingToken: lease.fencingToken,
          signal: cancelled ? AbortSignal.any([lease.signal, cancelled]) : lease.signal,
          token,
        }),
    );
    return outcome.value;
  };
}
