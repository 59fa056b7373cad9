import { type CanActivate, type ExecutionContext } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { RateLimitEngine } from '../core/ratelimit/engine.js';
import { type TollgateModuleOptions } from './tollgate.module-definition.js';
/**
 * Translates between Nest and the rate-limit engine: reads the route's limits, asks the engine,
 * sets the rate-limit headers, and turns a rejection into a problem+json response. Register it
 * globally (`{ provide: APP_GUARD, useClass: ThrottleGuard }`, after any authentication guard so
 * the principal is known) or let `@Throttle()` apply it per route. Guards run before interceptors,
 * so a throttled request never reaches `@Idempotent()` and never touches its key.
 */
export declare class ThrottleGuard implements CanActivate {
    private readonly reflector;
    private readonly engine;
    private readonly options;
    private readonly adapterHost;
    /** One resolved policy per controller and handler (null: not throttled), built on first use. */
    private readonly policies;
    constructor(reflector: Reflector, engine: RateLimitEngine, options: TollgateModuleOptions, adapterHost: HttpAdapterHost);
    canActivate(context: ExecutionContext): Promise<boolean>;
    private policyFor;
    private resolvePolicy;
}
//# sourceMappingURL=throttle.guard.d.ts.map