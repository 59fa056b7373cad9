import type { TollgateHttpError } from '../errors.js';
import type { StoredResponse } from '../store.js';
import type { Execution } from './execution.js';

/** A request as the adapters describe it to the engine: nothing framework-specific. */
export interface IdempotencyRequest {
  method: string;
  /** The route template (`/orders/:id`), or another stable name of the handler. */
  route: string;
  /**
   * Who is asking (principal and tenant, as `scopeKey` writes it), or `undefined` when anonymous.
   * Keys never cross scopes, so no one replays another's result.
   */
  scope: string | undefined;
  /** The TCP peer's address: scopes anonymous requests on `fingerprint` and `lock` routes. */
  remoteAddress?: string | undefined;
  /** A request header by lower-case name. */
  header(name: string): string | readonly string[] | undefined;
  /** A query field by name. */
  query(name: string): string | undefined;
  /** The parsed body (JSON), raw bytes or text, or undefined. */
  body: unknown;
  /**
   * The route's path parameters (`{ id: '1' }` for `/orders/:id`): part of the request's identity,
   * so identical bodies sent to `/devices/1/reports` and `/devices/2/reports` are two requests.
   */
  params?: Readonly<Record<string, unknown>> | undefined;
}

export type IdempotencyDecision =
  /** Run the handler, then report how it ended through `execution`. */
  | { action: 'proceed'; execution: Execution }
  /**
   * Do not run the handler: send this stored response, marked `Idempotent-Replayed: true`. For a
   * result committed in a transaction whose response was never recorded, `committed` holds the
   * handler's result too (`response` is it as JSON), for an adapter that renders results itself.
   */
  | { action: 'replay'; response: StoredResponse; committed?: { value: unknown } }
  /** Do not run the handler: answer with this problem. */
  | { action: 'reject'; error: TollgateHttpError }
  /** Run the handler without protection: no key was sent where none is required, or the store is down and the route allows it. */
  | { action: 'bypass'; reason: 'no-key' | 'store-unavailable' };
