/**
 * One `POST /orders` with an `Idempotency-Key`, as an adapter describes it to the engine, and a
 * response to finish it with: what the cache tests send again and again.
 */
import type { IdempotencyRequest } from '../../src/core/idempotency/engine.js';
import { resolveIdempotencyPolicy } from '../../src/core/idempotency/options.js';

export function orderRequest(key: string, body: unknown = { item: 'book' }): IdempotencyRequest {
  return {
    method: 'POST',
    route: '/orders',
    scope: 'anonymous',
    header: (name) => (name === 'idempotency-key' ? key : undefined),
    query: () => undefined,
    body,
  };
}

/** The policy of a route with `@Idempotent()` and no options. */
export const orderPolicy = resolveIdempotencyPolicy({}, undefined, { decorated: true });

export const ORDER_CREATED = { status: 201, headers: {}, body: Buffer.from('{"id":"ord_1"}') };
