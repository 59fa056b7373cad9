import type { IdempotencyOptions } from '../core/idempotency/options.js';
import type { MessageIdempotencyOptions } from './message-context.js';
/** Options of `@Idempotent()`: the shared ones, and those only microservice handlers read. */
export type IdempotentOptions = IdempotencyOptions & MessageIdempotencyOptions;
/** Route metadata written by `@Idempotent()`; read with `reflector.getAllAndOverride`. */
export declare const IdempotentMetadata: import("@nestjs/core").ReflectableDecorator<IdempotentOptions, IdempotentOptions>;
/** Route metadata written by `@SkipIdempotency()`. */
export declare const SkipIdempotencyMetadata: import("@nestjs/core").ReflectableDecorator<boolean, boolean>;
//# sourceMappingURL=metadata.d.ts.map