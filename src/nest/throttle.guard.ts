import {
  Inject,
  Injectable,
  Logger,
  type CanActivate,
  type ExecutionContext,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';

import { TollgateConfigError } from '../core/errors.js';
import { RateLimitEngine } from '../core/ratelimit/engine.js';
import type { RateLimitResponse } from '../core/ratelimit/decision.js';
import { rateLimiter, type RouteLimiter } from '../core/ratelimit/limiter.js';
import {
  describeRateLimitRequest,
  describeRateLimitResponse,
  type RateLimitHttpRequestLike,
} from '../http/rate-limit-request.js';
import { sharedHandledRequests } from '../http/handled.js';
import { defaultScope } from '../http/request.js';
import { rawResponse, routeTemplate, setPlatformHeader } from './http-context.js';
import { throttleLayersOf, throttleSkipOf } from './route-policies.js';
import { ThrottleMetadata } from './throttle.metadata.js';
import { problemException } from './tollgate-http.exception.js';
import { MODULE_OPTIONS_TOKEN, type TollgateModuleOptions } from './tollgate.module-definition.js';

/** Marks a request this guard already decided, so global and per-route registration never count twice. */
const HANDLED = sharedHandledRequests('tollgate:throttle-handled');

/**
 * Translates between Nest and the rate-limit engine: reads the route's limits, asks the engine,
 * sets the rate-limit headers, and turns a rejection into a problem+json response. Register it
 * globally (`{ provide: APP_GUARD, useClass: ThrottleGuard }`, after any authentication guard so
 * the principal is known) or let `@Throttle()` apply it per route. Guards run before interceptors,
 * so a throttled request never reaches `@Idempotent()` and never touches its key.
 */
@Injectable()
export class ThrottleGuard implements CanActivate {
  /** One limiter per controller and handler (null: not throttled), built on first use. */
  private readonly limiters = new WeakMap<object, WeakMap<object, RouteLimiter | null>>();
  /**
   * Non-HTTP handlers already looked at, per controller (an inherited handler is one function on
   * several classes, each with its own decorators): each is judged (and warned about) once.
   */
  private readonly outsideHttpSeen = new WeakMap<object, WeakSet<object>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly engine: RateLimitEngine,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: TollgateModuleOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return this.outsideHttp(context);
    const http = context.switchToHttp();
    const request = http.getRequest<RateLimitHttpRequestLike>();
    if (HANDLED.has(request)) return true;
    const limiter = this.limiterFor(context);
    if (!limiter) return true;
    HANDLED.mark(request);

    const described = describeRateLimitRequest(
      request,
      routeTemplate(context, request),
      this.options.scope ?? defaultScope,
    );
    const response = http.getResponse<unknown>();
    const adapter = this.adapterHost.httpAdapter;
    const responseOf = nestResponse(adapter, response);
    const decision = await limiter.admit(described, responseOf);
    if (decision.counted) COUNTED_BY.set(request, limiter);
    if (decision.action === 'allow') return true;
    const onRejected = this.options.throttle?.onRejected;
    if (onRejected) {
      limiter.apply(decision, responseOf);
      const { error, result } = decision;
      const custom = onRejected({ error, result }, context);
      if (custom !== undefined) throw custom;
    }
    throw problemException(adapter, response, decision.error);
  }

  /**
   * GraphQL resolvers, WebSocket gateways and message handlers have no HTTP request to count or
   * response to answer with a 429. A route that asks for limits explicitly (`@Throttle`) is refused
   * rather than left unlimited without a word; the module-wide limits do not apply there, which is
   * said once per handler.
   */
  private outsideHttp(context: ExecutionContext): true {
    const handler = context.getHandler();
    const controller = context.getClass();
    let seen = this.outsideHttpSeen.get(controller);
    if (!seen) this.outsideHttpSeen.set(controller, (seen = new WeakSet()));
    if (seen.has(handler)) return true;
    const where = `${controller.name}.${handler.name}`;
    const type = context.getType();
    // `@SkipThrottle()` says the limits are meant for HTTP only, name by name as on HTTP: the
    // handler's over its class's, so a handler that brings a limit back still asks for it.
    const skip = throttleSkipOf(this.reflector, controller, handler);
    const applies = (limits: object | undefined): boolean =>
      limits !== undefined && Object.keys(limits).some((name) => !skip(name));
    if (
      applies(this.reflector.get(ThrottleMetadata, handler)?.limits) ||
      applies(this.reflector.get(ThrottleMetadata, controller)?.limits)
    ) {
      throw new TollgateConfigError(
        'TOLLGATE_THROTTLE_NOT_HTTP',
        `@Throttle applies to ${where}, which runs in a "${type}" context: ThrottleGuard limits HTTP requests only. Remove @Throttle from it (and from its class), or add @SkipThrottle() to it`,
      );
    }
    seen.add(handler);
    if (applies(this.options.throttle?.limits)) {
      new Logger('Tollgate').warn(
        `the module-wide throttle limits do not apply to ${where}: it runs in a "${type}" context, and ThrottleGuard limits HTTP requests only (add @SkipThrottle() to it to say so)`,
      );
    }
    return true;
  }

  private limiterFor(context: ExecutionContext): RouteLimiter | null {
    const controller = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.limiters.get(controller);
    if (!byHandler) this.limiters.set(controller, (byHandler = new WeakMap()));
    let limiter = byHandler.get(handler);
    if (limiter === undefined) {
      limiter = routeLimiter(this.reflector, this.engine, this.options, controller, handler);
      byHandler.set(handler, limiter);
    }
    return limiter;
  }
}

/** Which limiter counted a request, for the admin API (`ThrottleAdmin`) to act on it. */
export const COUNTED_BY = new WeakMap<object, RouteLimiter>();

/**
 * A route's limiter (see `throttleLayersOf` and the core's `rateLimiter`); null when it is not
 * throttled. A misconfiguration is logged with the route's name and thrown.
 */
export function routeLimiter(
  reflector: Reflector,
  engine: RateLimitEngine,
  options: TollgateModuleOptions,
  controller: Type,
  handler: ReturnType<ExecutionContext['getHandler']>,
): RouteLimiter | null {
  try {
    const found = throttleLayersOf(reflector, controller, handler, options);
    if (!found) return null;
    const limiter = rateLimiter(engine, found.layers, found.skip);
    return limiter.policy.limits.length > 0 ? limiter : null;
  } catch (error) {
    new Logger('Tollgate').error(`invalid throttle options on ${controller.name}.${handler.name}`);
    throw error;
  }
}

/** A Nest response as the rate-limit engine takes it: headers through the platform's adapter. */
export function nestResponse(
  adapter: HttpAdapterHost['httpAdapter'],
  response: unknown,
): RateLimitResponse {
  return describeRateLimitResponse(rawResponse(response), (name, value) =>
    setPlatformHeader(adapter, response, name, value),
  );
}
