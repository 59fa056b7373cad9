import { TollgateConfigError } from '../core/errors.js';
import type { ExclusiveLeaseOptions, ExclusiveLeases } from '../core/lease/exclusive.js';
import { whenLeaseEnds, type ExclusiveLease } from '../core/lease/exclusive-lease.js';

/** The parts of a BullMQ `Worker` this uses: one created with `autorun: false`. */
export interface BullWorker {
  run(): Promise<unknown>;
  close(force?: boolean): Promise<void>;
}

/** Options of `exclusiveWorker()`. */
export interface ExclusiveWorkerOptions {
  /** The leases the worker takes its lease from. */
  leases: ExclusiveLeases;
  /** The lease's name: one worker at a time among every process that uses it. */
  name: string;
  /**
   * Creates the worker for one leadership term, with `autorun: false`; its processor should pass
   * `lease.fencingToken` to its writes and stop when `lease.signal` aborts.
   */
  createWorker: (lease: ExclusiveLease) => BullWorker;
  /** The lease: `ttl`, `renewEvery`, `retryEvery`, `storeTimeout`. Default a 30 s lease. */
  lease?: ExclusiveLeaseOptions;
}

/**
 * Processes a BullMQ queue in one process at a time: the one holding the exclusive lease `name`.
 * Each time this process leads, it creates a worker and runs it; when the lease is lost it closes
 * the worker at once, without waiting for its active job (whose writes the lease's fencing token
 * lets a store refuse), and BullMQ hands the jobs it had taken to the next holder as stalled jobs.
 * Resolves when `signal` aborts and the worker has closed.
 */
export async function exclusiveWorker(
  options: ExclusiveWorkerOptions & { signal: AbortSignal },
): Promise<void> {
  const { leases, name, createWorker, signal } = options;
  if (typeof leases?.lead !== 'function' || typeof createWorker !== 'function' || !name) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_CONSUMER',
      'exclusiveWorker(): give it `leases`, a lease `name` and `createWorker(lease)`',
    );
  }
  await leases.lead(
    name,
    async (lease) => {
      const worker = createWorker(lease);
      const close = (): void => void worker.close(true).catch(() => undefined);
      // Already lost: closed before it runs.
      const unwatch = whenLeaseEnds(lease, close);
      try {
        // Resolves once the worker is closed.
        await worker.run();
      } finally {
        unwatch();
        await worker.close(true).catch(() => undefined);
      }
    },
    { ...options.lease, signal },
  );
}
