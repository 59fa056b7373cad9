import { quietWarnings, type StoreCallEvent } from '../report.js';
import type { IdempotencyStrategy } from './options.js';

/**
 * What the idempotency engine decided for one request: exactly one per protected request.
 * `first-execution`: the handler runs (the key or lock was taken); `replay`: the stored response is
 * sent; `in-progress`: 409, another request holds the key; `key-reused`: 422, the key came with
 * another request; `lock-refused`: 409, a `lock` duplicate; `not-replayable`: 409, the first
 * response could not be kept; `no-key`: runs unprotected, no key where none is required;
 * `invalid-request`: 4xx for a missing or malformed key or an unreadable body (see `code`);
 * `store-unavailable-allowed` / `-rejected`: the store did not answer, and the route's
 * `onStoreUnavailable` ran the handler unprotected or answered 503.
 */
export type IdempotencyDecisionOutcome =
  | 'first-execution'
  | 'replay'
  | 'in-progress'
  | 'key-reused'
  | 'lock-refused'
  | 'not-replayable'
  | 'no-key'
  | 'invalid-request'
  | 'store-unavailable-allowed'
  | 'store-unavailable-rejected';

/**
 * Where an event happened: the route template (`/orders/:id`) or the message handler's name, and
 * the method (`MESSAGE` for messages). Never the key, the principal or the client's address.
 */
export interface IdempotencyEventSite {
  area: 'idempotency';
  route: string;
  method: string;
}

/** What the idempotency engine reports, for logs and metrics; tell events apart by `type`. */
export type IdempotencyEvent = IdempotencyEventSite &
  (
    | {
        type: 'decision';
        outcome: IdempotencyDecisionOutcome;
        strategy: IdempotencyStrategy;
        /** The problem's code (`TOLLGATE_KEY_MISSING`, ...) when the request was refused. */
        code?: string | undefined;
      }
    /** The store could not be reached in time; `policy` says what the request got. */
    | { type: 'store-unavailable'; policy: 'reject' | 'allow'; error: Error }
    /** The lease was lost: the store says another request holds the key, or it ran out unconfirmed. */
    | { type: 'lease-lost' }
    /** Recording the result failed once; it is retried, with the lease kept, until it lands. */
    | { type: 'finish-retrying'; error: Error }
    /** Recording the result failed until the lease had certainly run out: a retry may run again. */
    | { type: 'finish-failed'; error: Error }
    /**
     * The result was recorded in the application's transaction, which did not commit: the
     * response is not stored and the key is released, so a retry runs the handler again.
     */
    | { type: 'record-rolled-back' }
    /**
     * A job's return value could not be kept (JSON cannot carry it, or it is over
     * `maxResponseBytes`): the job is recorded as done all the same, so it never runs again, and a
     * repeat completes with `undefined`.
     */
    | { type: 'result-not-kept'; reason: 'not-json' | 'too-large' }
    /** One store call. */
    | StoreCallEvent
  );

/** One line for an event, for whichever logger the adapter uses. */
export function describeIdempotencyEvent(event: IdempotencyEvent): string {
  const where = `${event.method} ${event.route}`;
  switch (event.type) {
    case 'decision':
      return `${where}: ${event.outcome}${event.code ? ` (${event.code})` : ''}`;
    case 'store-unavailable':
      return `store unavailable, request to ${where} ${event.policy === 'allow' ? 'ran unprotected' : 'rejected with 503'}: ${event.error.message}`;
    case 'lease-lost':
      return `a request to ${where} lost its in-progress lease: another request may run it`;
    case 'finish-retrying':
      return `could not record the result of a request to ${where} yet, retrying while the lease holds: ${event.error.message}`;
    case 'finish-failed':
      return `could not record the result of a request to ${where}: ${event.error.message}`;
    case 'record-rolled-back':
      return `a request to ${where} recorded its result in a transaction that did not commit: its response is not stored, and a retry runs it again`;
    case 'result-not-kept':
      return `the result of ${where} could not be kept (${event.reason === 'too-large' ? 'over maxResponseBytes' : 'not JSON'}): it is recorded as done, and a repeat completes with undefined`;
    case 'store-call':
      return `${where}: store ${event.operation} ${event.ok ? 'answered' : 'failed'} in ${event.durationMs.toFixed(1)} ms`;
  }
}

/**
 * The default reporter, used when no `onEvent` is given: failures only (never a decision or a
 * store call), each kind at most once every 10 s through `write`.
 */
export function idempotencyWarnings(
  write: (line: string) => void,
): (event: IdempotencyEvent) => void {
  const warn = quietWarnings(write);
  return (event) => {
    if (event.type === 'decision' || event.type === 'store-call') return;
    warn(event.type, describeIdempotencyEvent(event));
  };
}
