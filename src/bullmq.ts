/**
 * BullMQ jobs that run once, and queues processed by one worker at a time: `import {
 * idempotentProcessor } from 'tollgate/bullmq'`. It works with BullMQ's jobs and workers by their
 * shape alone: Tollgate does not import bullmq.
 */
export {
  idempotentProcessor,
  type BullJob,
  type IdempotentJobOptions,
  type JobContext,
} from './bullmq/idempotent-processor.js';
export {
  exclusiveWorker,
  type BullWorker,
  type ExclusiveWorkerOptions,
} from './bullmq/exclusive-worker.js';
export type { OnceOptions } from './core/idempotency/once.js';
