import { Reflector } from '@nestjs/core';

import type { IdempotencyOptions } from '../core/idempotency/options.js';

/** Route metadata written by `@Idempotent()`; read with `reflector.getAllAndOverride`. */
export const IdempotentMetadata = Reflector.createDecorator<IdempotencyOptions>();

/** Route metadata written by `@SkipIdempotency()`. */
export const SkipIdempotencyMetadata = Reflector.createDecorator<boolean>();
