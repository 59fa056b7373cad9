import { applyDecorators, UseGuards } from '@nestjs/common';

import { TollgateConfigError } from '../core/errors.js';
import type { ThrottleRouteLimits, ThrottleSettings } from '../core/ratelimit/options.js';
import { validateThrottleLayer } from '../core/ratelimit/policy.js';
import { ThrottleGuard } from './throttle.guard.js';
import { SkipThrottleMetadata, ThrottleMetadata } from './throttle.metadata.js';

/**
 * Rate limits a route (or every route of a controller) with one or more named limits, checked
 * together in one atomic store call: a request rejected by any of them consumes from none.
 * Limits merge by name over the module's `throttle.limits` and the controller's; `settings`
 * (tracker, key, headers, ...) override the module's.
 *
 * @example
 * ```ts
 * @Get('quotes')
 * @Throttle({ default: { limit: 5, ttl: '10s' } })
 * quote() { ... }
 *
 * @Get('search')
 * @Throttle({
 *   burst: { limit: 3, ttl: '1s' },
 *   sustained: { limit: 20, ttl: '1m', algorithm: 'token-bucket' },
 * })
 * search() { ... }
 * ```
 */
export function Throttle(
  limits: ThrottleRouteLimits,
  settings?: ThrottleSettings,
): MethodDecorator & ClassDecorator {
  // Validate now, so a typo fails when the app starts, not on the first request.
  validateThrottleLayer({ limits, settings });
  return applyDecorators(
    ThrottleMetadata(settings === undefined ? { limits } : { limits, settings }),
    UseGuards(ThrottleGuard),
  );
}

/**
 * Turns rate limits off for a route or a controller: all of them, or the ones named. On a handler
 * it overrides the controller name by name, so `@SkipThrottle({ burst: false })` brings one back.
 *
 * @example
 * ```ts
 * @SkipThrottle()                      // no limits at all
 * @SkipThrottle('burst')               // every limit but "burst"
 * @SkipThrottle({ burst: true })       // the same, as an object
 * ```
 */
export function SkipThrottle(): MethodDecorator & ClassDecorator;
export function SkipThrottle(...names: string[]): MethodDecorator & ClassDecorator;
export function SkipThrottle(names: Record<string, boolean>): MethodDecorator & ClassDecorator;
export function SkipThrottle(
  ...what: Array<string | Record<string, boolean>>
): MethodDecorator & ClassDecorator {
  if (what.length === 0) return SkipThrottleMetadata(true);
  const [first] = what;
  if (what.length === 1 && typeof first === 'object' && first !== null) {
    for (const [name, skipped] of Object.entries(first)) {
      if (typeof skipped !== 'boolean') {
        throw new TollgateConfigError(
          'TOLLGATE_INVALID_SKIP_THROTTLE',
          `@SkipThrottle({ ${name}: ${String(skipped)} }): use true to skip the limit, false to keep it`,
        );
      }
    }
    return SkipThrottleMetadata({ ...first });
  }
  if (!what.every((name): name is string => typeof name === 'string')) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_SKIP_THROTTLE',
      '@SkipThrottle takes limit names (@SkipThrottle("burst")) or one object ({ burst: true })',
    );
  }
  return SkipThrottleMetadata(Object.fromEntries(what.map((name) => [name, true])));
}
