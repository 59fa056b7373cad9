import type { IdempotencyLease } from '../core/lease/lease.js';

/**
 * The lease of each request that runs under one, by the object the adapter hands its handler:
 * the request, or a message's transport context. Nothing is added to the request itself, and a
 * handler that never asks for its lease costs one WeakMap entry.
 */
const leases = new WeakMap<object, IdempotencyLease>();

export function attachLease(holder: object, lease: IdempotencyLease): void {
  leases.set(holder, lease);
}

/** The lease the request (or message context) runs under; `undefined` when it runs unprotected. */
export function leaseOf(holder: unknown): IdempotencyLease | undefined {
  return typeof holder === 'object' && holder !== null ? leases.get(holder) : undefined;
}
