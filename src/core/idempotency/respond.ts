import { isUtf8 } from 'node:buffer';

import type { TollgateHttpError } from '../errors.js';
import { problemResponse } from '../problem-response.js';
import type { StoredResponse } from '../store.js';
import type { Execution } from './execution.js';

/**
 * How a decision is applied to a response, whichever adapter writes it: what a replay and a
 * rejection carry, which form a replayed body goes out in, and what becomes of a key whose
 * response closed without being ended. The adapters only send the bytes.
 */

/** The header a replayed response carries, and the first response never does. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/**
 * A framework's response as its adapter writes to it. Made once per adapter, never per request:
 * each call is handed the response it writes to.
 */
export interface ResponseWriter<Res> {
  status(response: Res, status: number): void;
  setHeader(response: Res, name: string, value: string): void;
  /**
   * Whether UTF-8 text goes out best as a string: a framework that serializes what it is given
   * (Nest) writes a string in one piece and adds nothing; one that writes bytes never needs it.
   */
  readonly sendsText: boolean;
}

/**
 * The form a replayed body goes out in: `value`, the committed result through the framework's
 * own rendering; `empty`, no bytes; `text`, UTF-8 text under a content type that names UTF-8
 * (for a writer that `sendsText`); `bytes`, the stored bytes as they are.
 */
export type ReplayBody = 'value' | 'empty' | 'text' | 'bytes';

/** A content type that already names UTF-8, so a platform sends a string under it unchanged. */
const UTF8_CONTENT_TYPE = /;\s*charset=utf-8\s*(;|$)/i;

/**
 * Writes a replay's status and headers (the stored ones, then `Idempotent-Replayed: true`) and
 * says which form its body goes out in. `asValue`: a result committed in the handler's
 * transaction whose response was never recorded goes through the framework's rendering, as the
 * handler's return value would, so the framework sets its Content-Type, not the stored one.
 */
export function writeReplay<Res>(
  writer: ResponseWriter<Res>,
  response: Res,
  stored: StoredResponse,
  asValue: boolean,
): ReplayBody {
  writer.status(response, stored.status);
  // Header names are looked at only when it matters: no lower-cased copy per header otherwise.
  const looks = asValue || writer.sendsText;
  let contentType: string | undefined;
  for (const [name, value] of stored.headers) {
    if (looks && name.toLowerCase() === 'content-type') {
      if (asValue) continue;
      contentType = value;
    }
    writer.setHeader(response, name, value);
  }
  writer.setHeader(response, REPLAYED_HEADER, 'true');
  if (asValue) return 'value';
  const body = stored.body;
  if (body.byteLength === 0) return 'empty';
  return writer.sendsText &&
    contentType !== undefined &&
    UTF8_CONTENT_TYPE.test(contentType) &&
    isUtf8(body)
    ? 'text'
    : 'bytes';
}

/**
 * Writes a rejection's status and headers (its own, then problem+json) and returns the body's
 * exact bytes, which the adapter sends: one answer for every rejection (see `problemResponse`).
 */
export function writeRejection<Res>(
  writer: ResponseWriter<Res>,
  response: Res,
  error: TollgateHttpError,
): Buffer {
  const { status, headers, body } = problemResponse(error);
  writer.status(response, status);
  for (const [name, value] of headers) writer.setHeader(response, name, value);
  return body;
}

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
 * - Part of the body went out (`headersSent`): the handler ran and part of its answer was sent.
 *   Duplicates are told it cannot be replayed; running it again could do its work twice.
 * - Nothing went out and nothing ever will (`answerGivenUp`): the response can never be captured,
 *   so the key is released at once rather than left in progress until its lease runs out.
 * - Nothing went out yet, but the handler may still answer: the key stays held, renewed, until
 *   the handler ends the response (captured even with the client gone). A retry meanwhile is told
 *   the request is in progress, then gets the replay.
 *
 * When an answer is known to be given up is the adapter's to say, as only it knows when its
 * framework would still end the response.
 */
export function settleClosed(
  execution: Pick<Execution, 'finish' | 'abandon'>,
  ended: boolean,
  headersSent: boolean,
  status: number,
  answerGivenUp: boolean,
): ClosedOutcome {
  if (ended) return 'captured';
  if (headersSent) {
    void execution.finish({ status, unstorable: 'streamed' });
    return 'streamed';
  }
  if (!answerGivenUp) return 'kept';
  void execution.abandon();
  return 'abandoned';
}
