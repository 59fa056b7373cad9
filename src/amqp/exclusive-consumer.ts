import { sleep } from '../core/clock.js';
import { toMilliseconds } from '../core/duration.js';
import { TollgateConfigError } from '../core/errors.js';
import { messageIdOf } from '../core/idempotency/message.js';
import { MessageOnce } from '../core/idempotency/once.js';
import { whenLeaseEnds, type ExclusiveLease } from '../core/lease/exclusive-lease.js';
import { validateExclusiveLeaseOptions } from '../core/lease/exclusive.js';
import { neverThrows } from '../core/report.js';
import type {
  AmqpChannel,
  AmqpMessage,
  ExclusiveConsumer,
  ExclusiveConsumerEvent,
  ExclusiveConsumerOptions,
} from './types.js';

/**
 * Consumes a RabbitMQ queue only while this process holds the exclusive lease `name`: one
 * consumer at a time among every process that runs it, messages handled one at a time in queue
 * order, each at most once per message id.
 *
 * - Leading, it opens a channel, sets `prefetch`, and consumes with manual acknowledgements as the
 *   queue's only consumer (`exclusive`): the broker refuses it while a previous holder's consumer
 *   is still there, so a new holder never starts ahead of messages an old one still holds.
 * - The moment the lease's signal aborts (lost, or released by `stop()`), it closes the consumer's
 *   channel: the consumer goes, and every unacknowledged message back to the queue, in order. A
 *   holder that dies loses its connection, and the broker does the same.
 * - Each message runs under an idempotency record keyed by its id: a redelivery after a crash
 *   between the handler and the acknowledgement is acknowledged without running again.
 * - The handler gets the lease's fencing token for its writes, which refuse a stale holder.
 *
 * @example
 * ```ts
 * const connection = await amqplib.connect(process.env.AMQP_URL);
 * const consumer = exclusiveConsumer({
 *   leases, store, connection, name: 'policy-consumer', queue: 'policies',
 *   handle: async (message, { fencingToken, signal }) => {
 *     await policies.apply(JSON.parse(message.content.toString()), { fencingToken, signal });
 *   },
 * });
 * process.once('SIGTERM', () => void consumer.stop());
 * ```
 */
export function exclusiveConsumer(options: ExclusiveConsumerOptions): ExclusiveConsumer {
  return new RunningConsumer(validated(options));
}

function validated(options: ExclusiveConsumerOptions): ExclusiveConsumerOptions {
  const invalid = (what: string): never => {
    throw new TollgateConfigError('TOLLGATE_INVALID_CONSUMER', `exclusiveConsumer(): ${what}`);
  };
  if (typeof options !== 'object' || options === null) invalid('give it its options');
  const { leases, store, name, connection, queue, handle, prefetch } = options;
  if (typeof leases?.lead !== 'function') invalid('`leases` must be an ExclusiveLeases');
  if (typeof store?.begin !== 'function') invalid('`store` must be a Tollgate store');
  if (typeof name !== 'string' || name === '') invalid('`name` must name the lease');
  if (typeof connection?.createChannel !== 'function') {
    invalid('`connection` must have createChannel() (an amqplib connection)');
  }
  if (typeof queue !== 'string' || queue === '') invalid('`queue` must name the queue');
  if (typeof handle !== 'function') invalid('`handle` must be a function (message, context)');
  if (prefetch !== undefined && !(Number.isInteger(prefetch) && prefetch > 0)) {
    invalid(`\`prefetch\` must be a whole number above 0, got ${String(prefetch)}`);
  }
  if (options.messageId !== undefined && typeof options.messageId !== 'function') {
    invalid('`messageId` must be a function of the message');
  }
  validateExclusiveLeaseOptions(options.lease ?? {});
  return options;
}

/** An event as the consumer raises it; `area`, `name` and `queue` are added. */
type ConsumerEventBody = ExclusiveConsumerEvent extends infer E
  ? E extends unknown
    ? Omit<E, 'area' | 'name' | 'queue'>
    : never
  : never;

/** Why a leadership term ended without a failure of its own. */
class TermEnded extends Error {}

class RunningConsumer implements ExclusiveConsumer {
  readonly done: Promise<void>;
  private readonly shutdown = new AbortController();
  private readonly once: MessageOnce;
  private readonly emit: (event: ConsumerEventBody) => void;
  private readonly route: string;
  private readonly busyRetryMs: number;
  private readonly ttlMs: number;

  constructor(private readonly options: ExclusiveConsumerOptions) {
    const { name, queue } = options;
    const ttl = options.lease?.ttl ?? '30s';
    this.once = new MessageOnce(options.store, {
      lease: ttl,
      ...options.idempotency,
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options.onIdempotencyEvent === undefined ? {} : { onEvent: options.onIdempotencyEvent }),
    });
    // The records of one consumer of one queue: two consumers of one message each run it once.
    this.route = `amqp ${name} ${queue}`;
    this.busyRetryMs = toMilliseconds(options.busyRetry ?? '250ms', 'busyRetry');
    this.ttlMs = toMilliseconds(ttl, 'ttl');
    const onEvent = neverThrows(options.onEvent ?? (() => undefined));
    this.emit = (event) =>
      onEvent({ ...event, area: 'amqp', name, queue } as ExclusiveConsumerEvent);
    this.done = options.leases.lead(name, (lease) => this.lead(lease), {
      ...options.lease,
      signal: this.shutdown.signal,
    });
  }

  async stop(): Promise<void> {
    this.shutdown.abort();
    await this.done.catch(() => undefined);
  }

  /** One leadership term: consume until the lease is lost or released, or a message fails. */
  private async lead(lease: ExclusiveLease): Promise<void> {
    const inbox: AmqpMessage[] = [];
    let wake: (() => void) | undefined;
    let ended: Error | undefined;
    const end = (why: Error): void => {
      ended ??= why;
      wake?.();
    };
    const session = await this.consumeAlone(
      lease,
      (message) => {
        if (message === null) end(new Error('the broker cancelled the consumer (queue deleted?)'));
        else inbox.push(message);
        wake?.();
      },
      end,
    );
    if (session === undefined) return;
    const { channel } = session;
    let stopped = false;
    // Said once, when consuming stops: at the abort itself, not when a handler in flight ends.
    const announce = (reason: string): void => {
      if (!stopped) this.emit({ type: 'stopped', reason });
      stopped = true;
    };
    const stopConsuming = (): void => {
      announce('the lease was lost or released');
      end(new TermEnded('the lease was lost or released'));
      // Closed, not cancelled first: the broker drops a closed channel's consumer and returns its
      // unacknowledged messages in one step, where a cancel alone lets the next holder's exclusive
      // consume in while they are still out, and it would take the messages behind them first.
      channel.close().catch(() => undefined);
    };
    // Lost while the consume was being set up: stopped at once.
    const unwatch = whenLeaseEnds(lease, stopConsuming);
    if (lease.held) this.emit({ type: 'consuming', fencingToken: lease.fencingToken });
    try {
      for (;;) {
        if (ended) throw ended;
        const message = inbox.shift();
        if (message === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        await this.handleOne(channel, message, lease);
      }
    } catch (error) {
      const why = lease.signal.aborted ? new TermEnded('the lease was lost or released') : error;
      announce((why as Error).message);
      if (!(why instanceof TermEnded)) throw why;
    } finally {
      unwatch();
      stopConsuming();
    }
  }

  /**
   * Starts consuming as the queue's only consumer, on a channel of its own, retrying while another
   * consumer (a previous holder the broker has not dropped yet) is still on the queue.
   * `undefined` when the lease ended first.
   */
  private async consumeAlone(
    lease: ExclusiveLease,
    onMessage: (message: AmqpMessage | null) => void,
    onClose: (why: Error) => void,
  ): Promise<{ channel: AmqpChannel; consumerTag: string } | undefined> {
    let announced = false;
    while (!lease.signal.aborted) {
      // Each step of the set-up waits for the broker, which may never answer (unreachable, or a
      // reconnecting connection waiting for it): the lease ending (`stop()`, lost) ends the wait,
      // and so does a broker silent for a whole ttl, which gives the lease up to a process that
      // may reach it rather than holding it, renewed, without consuming.
      const setUp = settingUp(lease.signal, this.ttlMs);
      try {
        const session = await this.openConsumer(setUp.signal, lease, onMessage, onClose);
        if (session !== BUSY) return session;
      } finally {
        setUp.done();
      }
      if (!announced) this.emit({ type: 'queue-busy' });
      announced = true;
      await sleep(this.busyRetryMs, lease.signal);
    }
    return undefined;
  }

  /** One attempt at the set-up: the consumer, `undefined` when the lease ended, or `BUSY`. */
  private async openConsumer(
    setUp: AbortSignal,
    lease: ExclusiveLease,
    onMessage: (message: AmqpMessage | null) => void,
    onClose: (why: Error) => void,
  ): Promise<{ channel: AmqpChannel; consumerTag: string } | undefined | typeof BUSY> {
    const { connection, queue, prefetch = 10 } = this.options;
    const unanswered = (): undefined => {
      if (lease.signal.aborted) return undefined;
      throw new Error(`the broker did not open the consumer within the lease's ttl`);
    };
    const opening = connection.createChannel();
    const channel = await unlessEnded(opening, setUp);
    if (channel === ENDED) {
      opening.then((late) => late.close()).catch(() => undefined);
      return unanswered();
    }
    let consuming = false;
    // A refused consume closes the channel with an error event; without a listener it would throw.
    channel.on('error', () => undefined);
    // Once consuming, a closed channel (the connection lost) ends the term.
    channel.on('close', () => consuming && onClose(new Error('the channel closed')));
    try {
      const consumed = await unlessEnded(
        channel
          .prefetch(prefetch)
          .then(() => channel.consume(queue, onMessage, { noAck: false, exclusive: true })),
        setUp,
      );
      if (consumed === ENDED) {
        // Closed behind the consume: a consumer the broker registers late goes with it.
        channel.close().catch(() => undefined);
        return unanswered();
      }
      consuming = true;
      return { channel, consumerTag: consumed.consumerTag };
    } catch (error) {
      channel.close().catch(() => undefined);
      if (!isAccessRefused(error)) throw error;
      return BUSY;
    }
  }

  private async handleOne(
    channel: AmqpChannel,
    message: AmqpMessage,
    lease: ExclusiveLease,
  ): Promise<void> {
    const messageId = this.options.messageId
      ? this.options.messageId(message)
      : messageIdOf(message.properties.messageId);
    lease.throwIfLost();
    const outcome = await this.once.run(
      { route: this.route, id: messageId, data: message.content },
      () =>
        this.options.handle(message, {
          messageId,
          lease,
          fencingToken: lease.fencingToken,
          signal: lease.signal,
        }),
    );
    try {
      channel.ack(message);
    } catch {
      // The channel closed (the lease was lost): the message goes back to the queue, and its
      // redelivery finds it recorded.
    }
    this.emit(outcome.ran ? { type: 'handled', messageId } : { type: 'duplicate', messageId });
  }
}

/**
 * A signal that aborts when `lease` does or after `ms`, and `done` to drop its timer and listener.
 * Its own timer and controller, not `AbortSignal.any([lease, AbortSignal.timeout(ms)])`: that one
 * holds the timeout's signal only weakly, so a garbage collection during the wait loses it, and
 * the wait never ends.
 */
function settingUp(lease: AbortSignal, ms: number): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  const timer = setTimeout(abort, ms);
  timer.unref();
  lease.addEventListener('abort', abort, { once: true });
  if (lease.aborted) abort();
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      lease.removeEventListener('abort', abort);
    },
  };
}

const ENDED = Symbol('ended');
/** The queue has an exclusive consumer already: try again after `busyRetry`. */
const BUSY = Symbol('busy');

/** What `pending` resolves to, or `ENDED` as soon as `signal` aborts, whichever comes first. */
function unlessEnded<T>(pending: Promise<T>, signal: AbortSignal): Promise<T | typeof ENDED> {
  // A late rejection, once the abort has won, is nobody's to handle.
  pending.catch(() => undefined);
  if (signal.aborted) return Promise.resolve(ENDED);
  return new Promise((resolve, reject) => {
    const ended = (): void => resolve(ENDED);
    signal.addEventListener('abort', ended, { once: true });
    pending.finally(() => signal.removeEventListener('abort', ended)).then(resolve, reject);
  });
}

/** The broker's 403: the queue has an exclusive consumer already. */
function isAccessRefused(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    ((error as { code?: unknown }).code === 403 ||
      /ACCESS[-_]REFUSED/.test(String((error as { message?: unknown }).message)))
  );
}
