import { type IdempotentOptions } from './metadata.js';
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
export declare function Idempotent(options?: IdempotentOptions): MethodDecorator & ClassDecorator;
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
export declare function SkipIdempotency(): MethodDecorator & ClassDecorator;
//# sourceMappingURL=decorators.d.ts.map