import { type ThrottleRouteLimits, type ThrottleSettings } from '../core/ratelimit/options.js';
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
export declare function Throttle(limits: ThrottleRouteLimits, settings?: ThrottleSettings): MethodDecorator & ClassDecorator;
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
export declare function SkipThrottle(): MethodDecorator & ClassDecorator;
export declare function SkipThrottle(...names: string[]): MethodDecorator & ClassDecorator;
export declare function SkipThrottle(names: Record<string, boolean>): MethodDecorator & ClassDecorator;
//# sourceMappingURL=throttle.decorators.d.ts.map