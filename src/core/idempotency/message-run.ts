import type { TollgateHttpError } from '../errors.js';
import type { CapturedResponse, Execution, IdempotencyEngine } from './engine.js';
import {
  decodeMessageReply,
  describeMessage,
  encodeMessageReply,
  EVENT_HANDLED,
  isDuplicateDelivery,
  type IncomingMessage,
} from './message.js';
import type { IdempotencyPolicy } from './options.js';

/**
 * The rules of running a message once, whoever delivers it: a Nest microservice handler
 * (`@Idempotent()` on `@MessagePattern`, `@EventPattern`) or a queue consumer (`MessageOnce`
 * under `tollgate/amqp` and `tollgate/bullmq`). What a repeat gets, what is kept of a run, and
 * that a run that fails gives the message back are decided here; adapters only deliver.
 */

/** What a message's handler answers, which decides what is kept of a run and what a repeat gets. */
export type MessageKind =
  /**
   * An event (`@EventPattern`): nothing is replied, so only that it ran is kept, and a repeat,
   * even one whose run could not be kept, was handled already.
   */
  | 'event'
  /**
   * A request that waits for its reply (`@MessagePattern`): the replies are kept and a repeat gets
   * them again; a repeat whose replies were not kept is refused, and replies JSON cannot carry are
   * not kept (the transport cannot send them either, so the sender retries).
   */
  | 'reply'
  /**
   * A queue message or job: its work's result is kept for the consumer, and a repeat whose result
   * was not kept was handled already. A result JSON cannot carry is kept as "handled" alone.
   */
  | 'job';

/** What to do with one delivery of a message. */
export type MessageStep =
  /** Run the handler, then hand its outcome to `runMessage` (when `execution.tracked`). */
  | { action: 'proceed'; execution: Execution }
  /** Do not run it: answer with the first run's replies, in order. */
  | { action: 'replay'; values: readonly unknown[] }
  /** Do not run it: it was handled already, and there is nothing to answer. */
  | { action: 'handled' }
  /** Do not run it: refuse with this problem (the sender redelivers, or hears why). */
  | { action: 'reject'; error: TollgateHttpError }
  /** Run it unprotected: the store is down and the policy allows it. */
  | { action: 'bypass' };

const HANDLED: MessageStep = { action: 'handled' };

/** Decides what one delivery of `message` gets. */
export async function beginMessage(
  engine: IdempotencyEngine,
  policy: IdempotencyPolicy,
  message: IncomingMessage,
  kind: MessageKind,
): Promise<MessageStep> {
  const decision = await engine.begin(describeMessage(message, policy.headerName), policy);
  switch (decision.action) {
    case 'proceed':
      return decision;
    case 'replay':
      if (kind === 'event') return HANDLED;
      return {
        action: 'replay',
        // A result committed in the handler's transaction is its one reply value, whatever it is:
        // an array included, which its stored JSON alone would spread into several.
        values: decision.committed
          ? [decision.committed.value]
          : decodeMessageReply(decision.response),
      };
    case 'reject':
      // A repeat of a message already handled is not an error: it is simply not handled again.
      if (kind !== 'reply' && isDuplicateDelivery(decision.error)) return HANDLED;
      return decision;
    case 'bypass':
      return { action: 'bypass' };
  }
}

/**
 * Runs the handler of a message that proceeds and records how it ended: what it produced (its
 * values, in order) is kept before this resolves, so a redelivery that follows the answer always
 * finds it; a handler that fails gives the message back (its redelivery runs again) and rejects
 * with its own error. `warn` hears of replies that could not be kept.
 */
export async function runMessage(
  execution: Execution,
  kind: MessageKind,
  handler: () => Promise<readonly unknown[]>,
  warn: (line: string) => void,
): Promise<readonly unknown[]> {
  let values: readonly unknown[];
  try {
    values = await handler();
  } catch (error) {
    await execution.abandon();
    throw error;
  }
  let outcome = outcomeOf(values, kind, execution.maxResponseBytes);
  if (kind === 'job' && (outcome === undefined || 'unstorable' in outcome)) {
    // The job's work ran, so it must never run again: it is recorded as done without its value.
    execution.resultNotKept(outcome === undefined ? 'not-json' : 'too-large');
    outcome ??= encodeMessageReply([undefined], 0);
  }
  if (outcome) {
    await execution.finish(outcome);
  } else {
    // Not JSON: the transport cannot send it either, so the sender sees a failure and retries.
    warn(`a message reply could not be stored as JSON; released ${execution.key}`);
    await execution.abandon();
  }
  return values;
}

/** What is kept of a run; `undefined` when nothing can be, and the message is given back. */
function outcomeOf(
  values: readonly unknown[],
  kind: MessageKind,
  maxBytes: number,
): CapturedResponse | undefined {
  switch (kind) {
    case 'event':
      return EVENT_HANDLED;
    case 'reply':
      return encodeMessageReply(values, maxBytes);
    case 'job':
      return encodeMessageReply(values, maxBytes);
  }
}
