import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

import { leaseOf } from '../http/leases.js';
import { leaseHolder } from './message-context.js';

/**
 * The lease the handler runs under (`IdempotencyLease`): its fencing token, and a signal that
 * aborts when the lease can no longer be guaranteed. `undefined` when the request runs
 * unprotected (no key on an optional route, or the store down with `onStoreUnavailable: 'allow'`).
 * On HTTP and microservice handlers alike.
 *
 * @example
 * ```ts
 * @Post('payments')
 * @Idempotent()
 * pay(@Body() body: Payment, @Lease() lease: IdempotencyLease | undefined) {
 *   return this.ledger.append(body, { fencingToken: lease?.fencingToken, signal: lease?.signal });
 * }
 * ```
 */
export const Lease = createParamDecorator((_data: unknown, context: ExecutionContext) =>
  leaseOf(
    context.getType() === 'rpc'
      ? leaseHolder(context)
      : context.switchToHttp().getRequest<object>(),
  ),
);
