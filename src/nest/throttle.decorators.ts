import { applyDecorators, UseGuards } from '@nestjs/common';

import { TollgateConfigError } from '../core/errors.js';
import type { ThrottleRouteLimits, ThrottleSettings } from '../core/ratelimit/options.js';
import { validateThrottleLayer } from '../core/ratelimit/policy.js';
import { ThrottleGuard } from './throttle.guard.js';
import { SKIP_ALL, SkipThrottleMetadata, ThrottleMetadata } from './throttle.metadata.js';

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
 * it overrides the controller name by name, so `@SkipThrottle({ burst: false })` brings one back;
 * a name the handler does not mention keeps the controller's choice. Several on one handler or
 * class add up (the outermost wins for a name given twice), as do `@SkipThrottle()` and
 * `@SkipThrottle({ burst: false })` there: every limit but "burst".
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
  if (what.length === 0) return addSkips({ [SKIP_ALL]: true });
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
    return addSkips(first);
  }
  if (!what.every((name): name is string => typeof name === 'string')) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_SKIP_THROTTLE',
      '@SkipThrottle takes limit names (@SkipThrottle("burst")) or one object ({ burst: true })',
    );
  }
  return addSkips(Object.fromEntries(what.map((name) => [name, true])));
}

/**
 * Writes skips over those already on the same handler or class, rather than replacing them:
 * decorators apply from the innermost out, so the outermost wins for a name given twice, as it
 * would for any Nest metadata written twice. Only the target's own record counts, not one a
 * parent class holds: a subclass's skips are read over its parent's by the reflector.
 */
function addSkips(skips: Readonly<Record<string, boolean>>): MethodDecorator & ClassDecorator {
  const decorator = (
    target: object,
    key?: string | symbol,
    descriptor?: TypedPropertyDescriptor<unknown>,
  ): void => {
    const holder = (descriptor?.value as object | undefined) ?? target;
    const earlier = Reflect.getOwnMetadata(SkipThrottleMetadata.KEY, holder) as
      Readonly<Record<string, boolean>> | undefined;
    const write = SkipThrottleMetadata({ ...earlier, ...skips }) as (
      target: object,
      key?: string | symbol,
      descriptor?: TypedPropertyDescriptor<unknown>,
    ) => void;
    write(target, key, descriptor);
  };
  return decorator as MethodDecorator & ClassDecorator;
}
