import type { TollgateHttpError } from '../errors.js';
import type { StoredResponse } from '../../stores/store.js';
import type { CapturedResponse, IdempotencyRequest } from './engine.js';
/**
 * Messages (events and request-reply messages of a broker or RPC transport) as the idempotency
 * engine sees them: a request with the method `MESSAGE`, the handler as its route, and the
 * message's id, or else a fingerprint of its payload, in place of the client's key.
 */
/** The method every message is described with; it keeps message keys apart from HTTP keys. */
export declare const MESSAGE_METHOD = "MESSAGE";
/** What an adapter knows about one incoming message. */
export interface IncomingMessage {
    /** The handler: its pattern and its name, so two handlers of one event never share a key. */
    route: string;
    /** Who sent it, as `scopeOf` formats it; `anonymous` for most service-to-service traffic. */
    scope: string;
    /** The payload. */
    data: unknown;
    /** The message's own id, when it carries one. */
    id: string | undefined;
}
/**
 * The id a message carries in its payload: `data.id` or `data.messageId`, a non-empty string or a
 * finite number. `undefined` when there is none, and the payload's fingerprint stands in.
 */
export declare function defaultMessageId(data: unknown): string | undefined;
/** A usable id from whatever a resolver or a payload field holds. */
export declare function messageIdOf(value: unknown): string | undefined;
/**
 * Describes a message to the engine. Its key stands where an HTTP request's `Idempotency-Key`
 * header would: the id hashed (ids come in any length and alphabet, keys may not), or, for a
 * message without an id, a fingerprint of its payload, so a redelivery of the same payload is the
 * same message. The engine still fingerprints the payload, so an id reused with another payload is
 * refused rather than answered with the other message's result.
 */
export declare function describeMessage(message: IncomingMessage, headerName: string): IdempotencyRequest;
/** The content type of a stored message reply: JSON, the form every Nest transport sends. */
export declare const MESSAGE_REPLY_CONTENT_TYPE = "application/json";
/**
 * What a message handler produced, in the form the store keeps: status 200 and the emitted values
 * as a JSON array, so a replay emits the same values (as JSON carries them) in the same order. A
 * handler that returned nothing (one `undefined`) is kept as an empty body. `undefined` when a
 * value cannot be written as JSON: no transport could send it either.
 */
export declare function encodeMessageReply(values: readonly unknown[], maxBytes: number): CapturedResponse | undefined;
/** The values a stored message reply replays, in order. */
export declare function decodeMessageReply(stored: StoredResponse): unknown[];
/** An event's outcome: events have no reply, so only that it ran is kept. */
export declare const EVENT_HANDLED: CapturedResponse;
/**
 * Rejections that mean "this message is being or was already handled": a duplicate event is then
 * simply not handled again. Any other rejection (a reused id, the store down) is an error.
 */
export declare function isDuplicateDelivery(error: TollgateHttpError): boolean;
//# sourceMappingURL=message.d.ts.map