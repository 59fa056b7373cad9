import type { ThrottleLayer } from '../core/ratelimit/options.js';
/** Route metadata written by `@Throttle()`; read per handler and per controller, then merged. */
export declare const ThrottleMetadata: import("@nestjs/core").ReflectableDecorator<ThrottleLayer, ThrottleLayer>;
/** Route metadata written by `@SkipThrottle()`: every limit (`true`) or some by name. */
export declare const SkipThrottleMetadata: import("@nestjs/core").ReflectableDecorator<true | Readonly<Record<string, boolean>>, true | Readonly<Record<string, boolean>>>;
//# sourceMappingURL=throttle.metadata.d.ts.map