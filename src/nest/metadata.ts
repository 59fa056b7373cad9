import { Reflector } from '@nestjs/core';

import type { IdempotencyOptions } from '../core/idempotency/options.js';
import type { MessageIdempotencyOptions } from './message-context.js';

/** Options of `@Idempotent()`: the shared ones, and those only microservice handlers read. */
export type IdempotentOptions = IdempotencyOptions & MessageIdempotencyOptions;

/** Route metadata written by `@Idempotent()`; read with `reflector.getAllAndOverride`. */
export const IdempotentMetadata = Reflector.createDecorator<IdempotentOptions>();

/** Route metadata written by `@SkipIdempotency()`. */
export const SkipIdempotencyMetadata = Reflector.createDecorator<boolean>();
