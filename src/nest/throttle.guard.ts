import {
  Inject,
  Injectable,
  Logger,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';

import { RateLimitEngine } from '../core/ratelimit/engine.js';
import type { ThrottlePolicy } from '../core/ratelimit/options.js';
import {
  describeRateLimitRequest,
  type RateLimitHttpRequestLike,
} from '../http/rate-limit-request.js';
import { sharedHandledRequests } from '../http/handled.js';
import { defaultScope } from '../http/request.js';
import { routeTemplate } from './http-context.js';
import { throttlePolicyOf } from './route-policies.js';
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
  /** One resolved policy per controller and handler (null: not throttled), built on first use. */
  private readonly policies = new WeakMap<object, WeakMap<object, ThrottlePolicy | null>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly engine: RateLimitEngine,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: TollgateModuleOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const http = context.switchToHttp();
    const request = http.getRequest<RateLimitHttpRequestLike>();
    if (HANDLED.has(request)) return true;
    const policy = this.policyFor(context);
    if (!policy) return true;
    HANDLED.mark(request);

    const described = describeRateLimitRequest(
      request,
      routeTemplate(context, request),
      this.options.scope ?? defaultScope,
    );
    const decision = await this.engine.check(described, policy);
    const response = http.getResponse<unknown>();
    const adapter = this.adapterHost.httpAdapter;
    if (decision.action === 'allow') {
      const headers = decision.headers;
      for (const name in headers) adapter.setHeader(response, name, headers[name] as string);
      return true;
    }
    throw problemException(adapter, response, decision.error);
  }

  private policyFor(context: ExecutionContext): ThrottlePolicy | null {
    const controller = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.policies.get(controller);
    if (!byHandler) this.policies.set(controller, (byHandler = new WeakMap()));
    let policy = byHandler.get(handler);
    if (policy === undefined) {
      policy = this.resolvePolicy(context);
      byHandler.set(handler, policy);
    }
    return policy;
  }

  private resolvePolicy(context: ExecutionContext): ThrottlePolicy | null {
    const controller = context.getClass();
    const handler = context.getHandler();
    try {
      return throttlePolicyOf(this.reflector, controller, handler, this.options);
    } catch (error) {
      new Logger('Tollgate').error(
        `invalid throttle options on ${controller.name}.${handler.name}`,
      );
      throw error;
    }
  }
}
