import { Inject, Injectable, type ExecutionContext, type Type } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';

import { TollgateConfigError } from '../core/errors.js';
import { RateLimitEngine } from '../core/ratelimit/engine.js';
import {
  isClientRef,
  rateLimiter,
  type RateLimitClient,
  type RateLimitClientRef,
  type RouteLimiter,
} from '../core/ratelimit/limiter.js';
import type {
  RateLimitRequest,
  ThrottleLimits,
  ThrottleSettings,
} from '../core/ratelimit/options.js';
import type { RateLimitResult } from '../core/store.js';
import {
  describeRateLimitRequest,
  type RateLimitHttpRequestLike,
} from '../http/rate-limit-request.js';
import { defaultScope } from '../http/request.js';
import { platformRoute } from './http-context.js';
import { COUNTED_BY, nestResponse, routeLimiter } from './throttle.guard.js';
import { problemException } from './tollgate-http.exception.js';
import { MODULE_OPTIONS_TOKEN, type TollgateModuleOptions } from './tollgate.module-definition.js';

/** A request as Nest hands it to a handler (`@Req()`), on Express or Fastify. */
type NestRequest = object;

/**
 * The rate-limit admin API for Nest: read a client's state, reset it, penalise or reward it.
 * Inject it; pass the handler's request (`@Req()`) to act on the limits that counted it, or use
 * `forRoute()` for a route's limits outside a request, and `limiter()` for limits a handler checks
 * itself (several trackers on one route, such as a login's per-user and per-address limits).
 *
 * @example
 * ```ts
 * constructor(private readonly throttle: ThrottleAdmin) {}
 *
 * @Post('login')
 * @Throttle({ perAddress: { limit: 20, ttl: '1h' } }, { skipSuccessfulRequests: true })
 * async login(@Req() req: Request) {
 *   ...
 *   await this.throttle.reset(req); // a success wipes the route's counters for this client
 * }
 * ```
 */
@Injectable()
export class ThrottleAdmin {
  constructor(
    private readonly reflector: Reflector,
    private readonly engine: RateLimitEngine,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: TollgateModuleOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  /** The state of the client a request came from, on the limits that counted it; charges nothing. */
  async get(request: NestRequest): Promise<RateLimitResult> {
    const { limiter, client } = this.counted(request);
    return limiter.get(client);
  }

  /** Forgets the counters and blocks of the client a request came from, on the limits that counted it. */
  async reset(request: NestRequest): Promise<void> {
    const { limiter, client } = this.counted(request);
    await limiter.reset(client);
  }

  /** Takes `units` (default 1) from every limit that counted this request's client. */
  async penalty(request: NestRequest, units?: number): Promise<void> {
    const { limiter, client } = this.counted(request);
    await limiter.penalty(client, units);
  }

  /** Gives `units` (default 1) back on every limit that counted this request's client. */
  async reward(request: NestRequest, units?: number): Promise<void> {
    const { limiter, client } = this.counted(request);
    await limiter.reward(client, units);
  }

  /**
   * A route's limits (the module's defaults, the controller's and the handler's `@Throttle()`),
   * for admin work outside a request: `forRoute(AuthController, 'login').reset({ counter:
   * 'POST /login', address: '203.0.113.9' })`.
   */
  forRoute(controller: Type, handler: string): NestRateLimiter {
    const method = (controller.prototype as Record<string, unknown>)[handler];
    if (typeof method !== 'function') {
      throw new TollgateConfigError(
        'TOLLGATE_UNKNOWN_ROUTE',
        `${controller.name} has no method "${handler}": name the handler of the throttled route`,
      );
    }
    const limiter = routeLimiter(
      this.reflector,
      this.engine,
      this.options,
      controller,
      method as ReturnType<ExecutionContext['getHandler']>,
    );
    if (!limiter) {
      throw new TollgateConfigError(
        'TOLLGATE_NOT_THROTTLED',
        `${controller.name}.${handler} has no rate limits: give it @Throttle() or module-wide throttle limits`,
      );
    }
    return this.wrap(limiter, `${controller.name}.${handler}`);
  }

  /**
   * Limits a handler checks itself with `consume(request, response)`, beside or instead of the
   * guard: a second tracker on one route, or a check that needs the parsed body. Create it once
   * (in a constructor), not per request. The module's settings are its defaults.
   */
  limiter(options: { limits: ThrottleLimits } & ThrottleSettings): NestRateLimiter {
    const { limits, ...settings } = options;
    const defaults = this.options.throttle;
    return this.wrap(
      rateLimiter(this.engine, [{ settings: defaults }, { limits, settings }]),
      'limiter()',
    );
  }

  private wrap(limiter: RouteLimiter, route: string): NestRateLimiter {
    return new RouteNestRateLimiter(limiter, route, this.options, this.adapterHost);
  }

  private counted(request: NestRequest): { limiter: RouteLimiter; client: RateLimitClient } {
    const limiter = COUNTED_BY.get(request);
    if (!limiter) {
      throw new TollgateConfigError(
        'TOLLGATE_NOT_THROTTLED',
        'this request was not counted by ThrottleGuard (its route has no limits, it was skipped, or it is not the request object Nest handed the handler): pass @Req(), or use forRoute() with a client reference',
      );
    }
    // The guard described it with the route template; the limiter finds it by the request itself.
    const client = describeRateLimitRequest(
      request as RateLimitHttpRequestLike,
      '',
      this.options.scope ?? defaultScope,
    );
    return { limiter, client };
  }
}

/** One set of limits, for a handler to check and administer (see `ThrottleAdmin`). */
export interface NestRateLimiter {
  /**
   * Checks and charges the limits for this request, as the guard does: returns the decision's
   * state when allowed (and sets the rate-limit headers on `response`), throws the 429 (or 503)
   * problem otherwise.
   */
  consume(request: NestRequest, response: unknown): Promise<RateLimitResult | undefined>;
  /** The client's state on every limit as a request would see it now; charges nothing. */
  get(client: NestRequest | RateLimitClientRef): Promise<RateLimitResult>;
  /** Forgets the client's counters and blocks on these limits. */
  reset(client: NestRequest | RateLimitClientRef): Promise<void>;
  /** Takes `units` (default 1) from every limit of the client, at most emptying each. */
  penalty(client: NestRequest | RateLimitClientRef, units?: number): Promise<void>;
  /** Gives `units` (default 1) back on every limit of the client, never beyond a whole quota. */
  reward(client: NestRequest | RateLimitClientRef, units?: number): Promise<void>;
}

class RouteNestRateLimiter implements NestRateLimiter {
  constructor(
    private readonly limiter: RouteLimiter,
    private readonly route: string,
    private readonly options: TollgateModuleOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  /**
   * Checks and charges the limits for this request, as the guard does: returns the decision's
   * state when allowed (and sets the rate-limit headers on `response`), throws the 429 (or 503)
   * problem otherwise.
   */
  async consume(request: NestRequest, response: unknown): Promise<RateLimitResult | undefined> {
    const adapter = this.adapterHost.httpAdapter;
    const decision = await this.limiter.admit(
      this.describe(request),
      nestResponse(adapter, response),
    );
    if (decision.action === 'reject') throw problemException(adapter, response, decision.error);
    return decision.result;
  }

  /** The client's state on every limit as a request would see it now; charges nothing. */
  async get(client: NestRequest | RateLimitClientRef): Promise<RateLimitResult> {
    return this.limiter.get(this.client(client));
  }

  /** Forgets the client's counters and blocks on these limits. */
  async reset(client: NestRequest | RateLimitClientRef): Promise<void> {
    return this.limiter.reset(this.client(client));
  }

  /** Takes `units` (default 1) from every limit of the client, at most emptying each. */
  async penalty(client: NestRequest | RateLimitClientRef, units?: number): Promise<void> {
    return this.limiter.penalty(this.client(client), units);
  }

  /** Gives `units` (default 1) back on every limit of the client, never beyond a whole quota. */
  async reward(client: NestRequest | RateLimitClientRef, units?: number): Promise<void> {
    return this.limiter.reward(this.client(client), units);
  }

  private client(given: NestRequest | RateLimitClientRef): RateLimitClient {
    return isClientRef(given) ? given : this.describe(given);
  }

  /** The route template as the guard reads it, so the default key names the same counter. */
  private describe(request: NestRequest): RateLimitRequest {
    const req = request as RateLimitHttpRequestLike;
    return describeRateLimitRequest(
      req,
      platformRoute(req) ?? this.route,
      this.options.scope ?? defaultScope,
    );
  }
}
