import { applyDecorators, UseInterceptors } from '@nestjs/common';

import { resolveIdempotencyPolicy, type IdempotencyOptions } from '../core/idempotency/options.js';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';
import { IdempotentMetadata, SkipIdempotencyMetadata } from './metadata.js';

/**
 * Runs the handler once per idempotency key (or request fingerprint) and replays its response to
 * every duplicate. On a handler or a controller; options override the module's defaults.
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
 * ```
 */
export function Idempotent(options: IdempotencyOptions = {}): MethodDecorator & ClassDecorator {
  // Validate now, so a typo fails when the app starts, not on the first request.
  resolveIdempotencyPolicy(options, undefined, { decorated: true });
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
export function SkipIdempotency(): MethodDecorator & ClassDecorator {
  return SkipIdempotencyMetadata(true);
}
