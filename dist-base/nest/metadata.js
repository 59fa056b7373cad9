import { Reflector } from '@nestjs/core';
/** Route metadata written by `@Idempotent()`; read with `reflector.getAllAndOverride`. */
export const IdempotentMetadata = Reflector.createDecorator();
/** Route metadata written by `@SkipIdempotency()`. */
export const SkipIdempotencyMetadata = Reflector.createDecorator();
//# sourceMappingURL=metadata.js.map