import { createHash } from 'node:crypto';

import type { TollgateHttpError } from '../errors.js';
import { fingerprintRequest } from '../fingerprint.js';
import type { StoredResponse } from '../store.js';
import type { CapturedResponse, IdempotencyRequest } from './engine.js';

/**
 * Messages (events and request-reply messages of a broker or RPC transport) as the idempotency
 * engine sees them: a request with the method `MESSAGE`, the handler as its route, and the
 * message's id, or else a fingerprint of its payload, in place of the client's key.
 */

/** The method every message is described with; it keeps message keys apart from HTTP keys. */
export const MESSAGE_METHOD = 'MESSAGE';

/** What an adapter knows about one incoming message. */
export interface IncomingMessage {
  /** The handler: its pattern and its name, so two handlers of one event never share a key. */
  route: string;
  /** Who sent it, as `scopeKey` writes it; `undefined` (anonymous) for most service-to-service traffic. */
  scope: string | undefined;
  /** The payload. */
  data: unknown;
  /** The message's own id, when it carries one. */
  id: string | undefined;
}

/**
 * The id a message carries in its payload: `data.id` or `data.messageId`, a non-empty string or a
 * finite number. `undefined` when there is none, and the payload's fingerprint stands in.
 */
export function defaultMessageId(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const record = data as Record<string, unknown>;
  return messageIdOf(record.id) ?? messageIdOf(record.messageId);
}

/** A usable id from whatever a resolver or a payload field holds. */
export function messageIdOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * Describes a message to the engine. Its key stands where an HTTP request's `Idempotency-Key`
 * header would: the id hashed (ids come in any length and alphabet, keys may not), or, for a
 * message without an id, a fingerprint of its payload, so a redelivery of the same payload is the
 * same message. The engine still fingerprints the payload, so an id reused with another payload is
 * refused rather than answered with the other message's result.
 */
export function describeMessage(message: IncomingMessage, headerName: string): IdempotencyRequest {
  const keyHeader = headerName.toLowerCase();
  let key: string | undefined;
  return {
    method: MESSAGE_METHOD,
    route: message.route,
    scope: message.scope,
    // Computed on first use, inside the engine, which turns a hostile payload into a rejection.
    header: (name) => (name === keyHeader ? (key ??= messageKey(message)) : undefined),
    query: () => undefined,
    body: message.data,
  };
}

function messageKey(message: IncomingMessage): string {
  if (message.id !== undefined) {
    return `id:${createHash('sha256').update(message.id).digest('base64url')}`;
  }
  const payload = fingerprintRequest({
    method: MESSAGE_METHOD,
    route: message.route,
    body: message.data,
  });
  return `payload:${payload}`;
}

/** The content type of a stored message reply: JSON, the form every Nest transport sends. */
export const MESSAGE_REPLY_CONTENT_TYPE = 'application/json';

/**
 * What a message handler produced, in the form the store keeps: status 200 and the emitted values
 * as a JSON array, so a replay emits the same values (as JSON carries them) in the same order. A
 * handler that returned nothing (one `undefined`) is kept as an empty body. `undefined` when a
 * value cannot be written as JSON: no transport could send it either.
 */
export function encodeMessageReply(
  values: readonly unknown[],
  maxBytes: number,
): CapturedResponse | undefined {
  const ok = (body: Uint8Array): CapturedResponse => ({
    status: 200,
    headers: { 'content-type': MESSAGE_REPLY_CONTENT_TYPE },
    body,
  });
  if (values.length === 1 && values[0] === undefined) return ok(new Uint8Array(0));
  let json: string;
  try {
    json = JSON.stringify(values);
  } catch {
    return undefined;
  }
  const body = Buffer.from(json);
  if (body.byteLength > maxBytes) return { status: 200, unstorable: 'too-large' };
  return ok(body);
}

/** The values a stored message reply replays, in order. */
export function decodeMessageReply(stored: StoredResponse): unknown[] {
  if (stored.body.byteLength === 0) return [undefined];
  const values: unknown = JSON.parse(Buffer.from(stored.body).toString('utf8'));
  return Array.isArray(values) ? values : [values];
}

/** An event's outcome: events have no reply, so only that it ran is kept. */
export const EVENT_HANDLED: CapturedResponse = {
  status: 200,
  headers: {},
  body: new Uint8Array(0),
};

/**
 * Rejections that mean "this message was already handled": a duplicate event is then simply not
 * handled again. Any other rejection is an error, so a transport that acknowledges on return
 * redelivers it. That includes a message still in progress: the first delivery may be running,
 * or its consumer may have crashed holding the key, and then only a later redelivery (once the
 * lease has run out) handles it at all.
 */
export function isDuplicateDelivery(error: TollgateHttpError): boolean {
  return error.code === 'TOLLGATE_DUPLICATE' || error.code === 'TOLLGATE_NOT_REPLAYABLE';
}
