import type { ServerResponse } from 'node:http';

import type { Execution } from '../core/idempotency/engine.js';
import { settleClosed, type ClosedOutcome } from '../core/idempotency/respond.js';

export type { ClosedOutcome } from '../core/idempotency/respond.js';

/**
 * A Node.js response that closed without being ended, read for the core's rule (`settleClosed`):
 * whether its capture saw it ended, and whether any of it went out.
 */
export function settleClosedResponse(
  execution: Pick<Execution, 'finish' | 'abandon'>,
  res: ServerResponse,
  capture: { readonly ended: boolean },
  answerGivenUp: boolean,
): ClosedOutcome {
  return settleClosed(execution, capture.ended, res.headersSent, res.statusCode, answerGivenUp);
}
