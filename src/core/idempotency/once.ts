import type { Duration } from '../duration.js';
import { TollgateHttpError } from '../errors.js';
import type { IdempotencyLease } from '../lease/lease.js';
import type { IdempotencyStore } from '../store.js';
import { IdempotencyEngine } from './engine.js';
import type { IdempotencyEvent } from './events.js';
import { beginMessage, runMessage } from './message-run.js';
import { resolveIdempotencyPolicy, type IdempotencyPolicy } from './options.js';

/**
 * Runs the work of one queue message or job at most once per id, for consumers that are not Nest
 * handlers (an amqplib consumer, a BullMQ processor): the same engine and store records as
 * `@Idempotent()` on a message handler, with the work's return value kept as its result.
 */

/** How a message's or job's record is kept. */
export interface OnceOptions {
  /** How long a finished message's record is kept: a redelivery within it is not run. Default `'24h'`. */
  retention?: Duration;
  /**
   * The in-progress lease of one message: how long a consumer that died mid-message blocks its
   * redelivery at most. Renewed while the work runs. Default `'30s'`.
   */
  lease?: Duration;
  /**
   * How long a redelivery waits for a message still in progress elsewhere (a consumer that died
   * or stalled holding it) before giving up with `TOLLGATE_IN_PROGRESS`. Default: the `lease`.
   */
  waitForInFlight?: Duration;
  /** Hard deadline of each store call. Default `'1s'`. */
  storeTimeout?: Duration;
  /** Prefix of every storage key. Default `tollgate`. */
  namespace?: string;
  /** Hears each message's decision and store calls, as for HTTP. Default: failures as warnings. */
  onEvent?: (event: IdempotencyEvent) => void;
}

/** What running a message once did. */
export type OnceOutcome<T> =
  /** The work ran, and its result is recorded: `value` is what it returned. */
  | { ran: true; value: T }
  /**
   * It did not run: the message was handled before (a redelivery, a duplicate publish, a job
   * retried after it finished). `value` is what the first run returned, as JSON carries it.
   */
  | { ran: false; value: T | undefined };

/** The work of one message: it may read its lease (fencing token, signal) for its own writes. */
export type OnceWork<T> = (lease: IdempotencyLease) => Promise<T> | T;

/** One message's identity: its handler (consumer, queue) and its id, with the payload it carries. */
export interface OnceMessage {
  /** The consumer or queue: two consumers of one message each run it once. */
  route: string;
  /** The message's id; `undefined` to key the message by a fingerprint of its payload. */
  id: string | undefined;
  /** The payload: fingerprinted, so an id reused with another payload is refused. */
  data: unknown;
}

/** Runs messages at most once per id, on one store. */
export class MessageOnce {
  private readonly engine: IdempotencyEngine;
  private readonly policy: IdempotencyPolicy;

  constructor(store: IdempotencyStore, options: OnceOptions = {}) {
    this.engine = new IdempotencyEngine(store, {
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    });
    const lease = options.lease ?? '30s';
    this.policy = resolveIdempotencyPolicy(
      {
        strategy: 'key',
        retention: options.retention ?? '24h',
        lease,
        waitForInFlight: options.waitForInFlight ?? lease,
        storeTimeout: options.storeTimeout ?? '1s',
        onStoreUnavailable: 'reject',
      },
      undefined,
      { decorated: true },
    );
  }

  /**
   * Runs `work` unless the message was handled before. Rejects, without running it, when the
   * store cannot be reached, when the message is still in progress elsewhere after waiting, or
   * when its id was used for another payload (a `TollgateHttpError` with the code); and with the
   * work's own error when it fails, after releasing the message so a redelivery runs it again.
   */
  async run<T>(message: OnceMessage, work: OnceWork<T>): Promise<OnceOutcome<T>> {
    const step = await beginMessage(
      this.engine,
      this.policy,
      { route: message.route, scope: undefined, data: message.data, id: message.id },
      'job',
    );
    switch (step.action) {
      case 'replay':
        return { ran: false, value: step.values[0] as T | undefined };
      case 'handled':
        return { ran: false, value: undefined };
      case 'reject':
        throw step.error;
      case 'bypass':
        // Only with onStoreUnavailable 'allow', which this policy never sets.
        throw new TollgateHttpError({
          code: 'TOLLGATE_STORE_UNAVAILABLE',
          status: 503,
          slug: 'store-unavailable',
          title: 'Store unavailable',
          detail: 'the message could not be recorded',
        });
      case 'proceed': {
        const { lease } = step.execution;
        // A job is always recorded (a value that cannot be kept is reported as an event): `runMessage`
        // never warns for one.
        const [value] = await runMessage(
          step.execution,
          'job',
          async () => [await work(lease)],
          ignore,
        );
        return { ran: true, value: value as T };
      }
    }
  }
}

const ignore = (): void => undefined;
