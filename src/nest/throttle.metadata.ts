import { Reflector } from '@nestjs/core';

import type { ThrottleLayer } from '../core/ratelimit/options.js';

/** Route metadata written by `@Throttle()`; read per handler and per controller, then merged. */
export const ThrottleMetadata = Reflector.createDecorator<ThrottleLayer>();

/** Route metadata written by `@SkipThrottle()`: every limit (`true`) or some by name. */
export const SkipThrottleMetadata = Reflector.createDecorator<
  true | Readonly<Record<string, boolean>>
>();
