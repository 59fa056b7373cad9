import type { Duration } from '../core/duration.js';
import type { IdempotencyEvent } from '../core/idempotency/events.js';
import type { OnceOptions } from '../core/idempotency/once.js';
import type { ExclusiveLeaseOptions, ExclusiveLeases } from '../core/lease/exclusive.js';
import type { ExclusiveLease } from '../core/lease/exclusive-lease.js';
import type { IdempotencyStore } from '../core/store.js';

/*
 * The parts of amqplib's API the consumer uses, written out so that Tollgate never imports
 * amqplib: an amqplib `ChannelModel` (what `connect()` resolves to) fits `AmqpConnection`, and its
 * channels and messages fit the shapes below.
 */

/** A delivered message, as amqplib hands it over (`ConsumeMessage`). */
export interface AmqpMessage {
  content: Buffer;
  fields: { deliveryTag: number; redelivered: boolean };
  properties: { messageId?: unknown; headers?: Record<string, unknown> | undefined };
}

/** The channel operations the consumer needs (amqplib's `Channel`). */
export interface AmqpChannel {
  prefetch(count: number, global?: boolean): Promise<unknown>;
  consume(
    queue: string,
    onMessage: (message: AmqpMessage | null) => void,
    options?: { noAck?: boolean; exclusive?: boolean },
  ): Promise<{ consumerTag: string }>;
  cancel(consumerTag: string): Promise<unknown>;
  ack(message: AmqpMessage): void;
  close(): Promise<void>;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * Where the consumer opens its channels: amqplib's `ChannelModel`, or any object whose
 * `createChannel()` opens one on a live connection (a wrapper that reconnects, for example).
 */
export interface AmqpConnection {
  createChannel(): Promise<AmqpChannel>;
}

/** What a handler gets beside the message. */
export interface AmqpHandlerContext {
  /** The message's id (`properties.messageId`, or what `messageId` returned). */
  messageId: string | undefined;
  /** The consumer's exclusive lease. */
  lease: ExclusiveLease;
  /** The lease's fencing token: pass it to every write, which refuses a lower one than it has seen. */
  fencingToken: number;
  /** Aborts when the lease is lost or the consumer stops: stop the work then. */
  signal: AbortSignal;
}

/** What the consumer reports, beside the lease's own events. `name` is the lease's name. */
export type ExclusiveConsumerEvent = { area: 'amqp'; name: string; queue: string } &
  /** This process leads and consumes the queue. */
  (
    | { type: 'consuming'; fencingToken: number }
    /**
     * This process leads but another consumer is still on the queue (a holder whose connection the
     * broker has not closed yet): it tries again until that one is gone.
     */
    | { type: 'queue-busy' }
    /** A message was handled and acknowledged. */
    | { type: 'handled'; messageId: string | undefined }
    /** A message handled before (a redelivery, a duplicate publish): acknowledged, not run. */
    | { type: 'duplicate'; messageId: string | undefined }
    /** Consuming stopped: the lease was lost or released, or `reason` failed. */
    | { type: 'stopped'; reason: string }
  );

/** Options of `exclusiveConsumer()`. */
export interface ExclusiveConsumerOptions {
  /** The leases the consumer takes its lease from (one `ExclusiveLeases` per app). */
  leases: ExclusiveLeases;
  /** Where each message's record is kept: the store the leases use, in most apps. */
  store: IdempotencyStore;
  /** The lease's name: one consumer among every process that uses the same name. */
  name: string;
  /** Where the consumer opens a channel each time it starts leading. */
  connection: AmqpConnection;
  /** The queue to consume. It must exist (`assertQueue` it at start-up). */
  queue: string;
  /**
   * Handles one message. Messages come one at a time, in queue order; the message is acknowledged
   * once this resolves. When it throws, the consumer stops, every unacknowledged message goes back
   * to the queue in order, and it competes for the lease again (`lease-work-failed`).
   */
  handle: (message: AmqpMessage, context: AmqpHandlerContext) => Promise<unknown> | unknown;
  /** Messages the broker sends ahead of acknowledgements. Default 10. */
  prefetch?: number;
  /**
   * The message's id. Default `properties.messageId`; without one, a fingerprint of the content
   * identifies the message.
   */
  messageId?: (message: AmqpMessage) => string | undefined;
  /** The lease: `ttl`, `renewEvery`, `retryEvery`, `storeTimeout`. Default a 30 s lease. */
  lease?: ExclusiveLeaseOptions;
  /**
   * How each message's record is kept. Default: kept 24 h, with an in-progress lease as long as
   * the consumer's, and a redelivery waiting that long for a message a dead holder had begun.
   */
  idempotency?: Omit<OnceOptions, 'onEvent' | 'namespace'>;
  /** How long to wait between attempts while another consumer is still on the queue. Default `'250ms'`. */
  busyRetry?: Duration;
  /** Hears the consumer's events. */
  onEvent?: (event: ExclusiveConsumerEvent) => void;
  /** Hears each message's idempotency decision and store calls. */
  onIdempotencyEvent?: (event: IdempotencyEvent) => void;
  /** Prefix of the records' keys. Default `tollgate`. */
  namespace?: string;
}

/** A running exclusive consumer. */
export interface ExclusiveConsumer {
  /**
   * Stops: cancels the consumer if it leads (its unacknowledged messages go back to the queue),
   * releases the lease so a standby leads at its next try, and resolves once it has stopped.
   */
  stop(): Promise<void>;
  /** Resolves when the consumer has stopped; rejects if it could not run at all. */
  readonly done: Promise<void>;
}
