import type { ServerResponse } from 'node:http';

import type { Execution } from '../core/idempotency/engine.js';

/** What became of a key whose response closed (the client left, or the app destroyed it). */
export type ClosedOutcome =
  /** The response was ended, so its capture recorded it: nothing more to do. */
  | 'captured'
  /** Cut off mid-body: recorded as unstorable `streamed`. */
  | 'streamed'
  /** Closed before any byte, and no answer will come: the key is released so a retry runs. */
  | 'abandoned'
  /** Closed before any byte while the handler may still answer: the key stays held. */
  | 'kept';

/**
 * The one rule for a response that closed without being ended, for every adapter:
 *
 * - Part of the body went out: the handler ran and part of its answer was sent. Duplicates are
 *   told it cannot be replayed; running it again could do its work twice.
 * - Nothing went out and nothing ever will (`answerGivenUp`): the response can never be captured,
 *   so the key is released at once rather than left in progress until its lease runs out.
 * - Nothing went out yet, but the handler may still answer: the key stays held, renewed, until
 *   the handler ends the response (captured even with the client gone). A retry meanwhile is told
 *   the request is in progress, then gets the replay.
 *
 * When an answer is known to be given up is the adapter's to say, as only it knows when its
 * framework would still end the response.
 */
export function settleClosedResponse(
  execution: Pick<Execution, 'finish' | 'abandon'>,
  res: ServerResponse,
  capture: { readonly ended: boolean },
  answerGivenUp: boolean,
): ClosedOutcome {
  if (capture.ended) return 'captured';
  if (res.headersSent) {
    void execution.finish({ status: res.statusCode, unstorable: 'streamed' });
    return 'streamed';
  }
  if (!answerGivenUp) return 'kept';
  void execution.abandon();
  return 'abandoned';
}
