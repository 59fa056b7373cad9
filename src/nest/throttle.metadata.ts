import { Reflector } from '@nestjs/core';

import type { ThrottleLayer } from '../core/ratelimit/options.js';

/** Route metadata written by `@Throttle()`; read per handler and per controller, then merged. */
export const ThrottleMetadata = Reflector.createDecorator<ThrottleLayer>();

/**
 * Route metadata written by `@SkipThrottle()`: whether each named limit is skipped, and under
 * `SKIP_ALL` (a name no limit can have) whether every other one is. Several `@SkipThrottle()`s on
 * one handler or class add up into one record.
 */
export const SkipThrottleMetadata = Reflector.createDecorator<Readonly<Record<string, boolean>>>();

/** The entry of `SkipThrottleMetadata` for every limit the record does not name. */
export const SKIP_ALL = '*';
