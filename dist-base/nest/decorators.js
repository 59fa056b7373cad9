import { applyDecorators, UseInterceptors } from '@nestjs/common';
import { TollgateConfigError } from '../core/errors.js';
import { resolveIdempotencyPolicy } from '../core/idempotency/options.js';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';
import { IdempotentMetadata, SkipIdempotencyMetadata } from './metadata.js';
/**
 * Runs the handler once per idempotency key (or request fingerprint) and replays its response to
 * every duplicate. On a handler or a controller; options override the module's defaults. On a
 * microservice handler, the message's id (or its payload) is the key: a redelivered
 * `@MessagePattern` gets the first reply again, a redelivered `@EventPattern` is not handled again.
 *
 * @example
 * ```ts
 * @Post('orders')
 * @Idempotent({ retention: '24h' })
 * create(@Body() body: CreateOrder) { ... }
 *
 * @Post('reports')
 * @Idempotent({ strategy: 'fingerprint', window: '5s' })
 * report(@Body() body: unknown) { ... }
 *
 * // Microservices: a redelivered message runs once; keyed by its id, else by its payload.
 * @MessagePattern('charge')
 * @Idempotent({ messageId: (data) => (data as Charge).chargeId })
 * charge(@Payload() data: Charge) { ... }
 * ```
 */
export function Idempotent(options = {}) {
    // Validate now, so a typo fails when the app starts, not on the first request.
    resolveIdempotencyPolicy(options, undefined, { decorated: true });
    for (const name of ['messageId', 'messageScope']) {
        if (options[name] !== undefined && typeof options[name] !== 'function') {
            throw new TollgateConfigError('TOLLGATE_INVALID_MESSAGE_OPTION', `${name} must be a function (data, host) => value; remove it to use the default`);
        }
    }
    return applyDecorators(IdempotentMetadata(options), UseInterceptors(IdempotencyInterceptor));
}
/**
 * Excludes a route (or a controller) from globally registered idempotency.
 *
 * @example
 * ```ts
 * @Post('webhooks')
 * @SkipIdempotency()
 * receive() { ... }
 * ```
 */
export function SkipIdempotency() {
    return SkipIdempotencyMetadata(true);
}
//# sourceMappingURL=decorators.js.map