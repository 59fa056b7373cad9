import { Reflector } from '@nestjs/core';
/** Route metadata written by `@Throttle()`; read per handler and per controller, then merged. */
export const ThrottleMetadata = Reflector.createDecorator();
/** Route metadata written by `@SkipThrottle()`: every limit (`true`) or some by name. */
export const SkipThrottleMetadata = Reflector.createDecorator();
//# sourceMappingURL=throttle.metadata.js.map