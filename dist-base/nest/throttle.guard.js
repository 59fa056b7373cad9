var __decorate = (this && this.__decorate) || function (decorators, target, key, desc) {
    var c = arguments.length, r = c < 3 ? target : desc === null ? desc = Object.getOwnPropertyDescriptor(target, key) : desc, d;
    if (typeof Reflect === "object" && typeof Reflect.decorate === "function") r = Reflect.decorate(decorators, target, key, desc);
    else for (var i = decorators.length - 1; i >= 0; i--) if (d = decorators[i]) r = (c < 3 ? d(r) : c > 3 ? d(target, key, r) : d(target, key)) || r;
    return c > 3 && r && Object.defineProperty(target, key, r), r;
};
var __metadata = (this && this.__metadata) || function (k, v) {
    if (typeof Reflect === "object" && typeof Reflect.metadata === "function") return Reflect.metadata(k, v);
};
var __param = (this && this.__param) || function (paramIndex, decorator) {
    return function (target, key) { decorator(target, key, paramIndex); }
};
import { Inject, Injectable, Logger, } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { PROBLEM_CONTENT_TYPE } from '../core/errors.js';
import { RateLimitEngine } from '../core/ratelimit/engine.js';
import { resolveThrottlePolicy, } from '../core/ratelimit/options.js';
import { describeRateLimitRequest, } from '../http/rate-limit-request.js';
import { sharedHandledRequests } from '../http/handled.js';
import { defaultScope } from '../http/request.js';
import { routeTemplate } from './http-context.js';
import { SkipThrottleMetadata, ThrottleMetadata } from './throttle.metadata.js';
import { TollgateHttpException } from './tollgate-http.exception.js';
import { MODULE_OPTIONS_TOKEN } from './tollgate.module-definition.js';
/** Marks a request this guard already decided, so global and per-route registration never count twice. */
const HANDLED = sharedHandledRequests('tollgate:throttle-handled');
/**
 * Translates between Nest and the rate-limit engine: reads the route's limits, asks the engine,
 * sets the rate-limit headers, and turns a rejection into a problem+json response. Register it
 * globally (`{ provide: APP_GUARD, useClass: ThrottleGuard }`, after any authentication guard so
 * the principal is known) or let `@Throttle()` apply it per route. Guards run before interceptors,
 * so a throttled request never reaches `@Idempotent()` and never touches its key.
 */
let ThrottleGuard = class ThrottleGuard {
    reflector;
    engine;
    options;
    adapterHost;
    /** One resolved policy per controller and handler (null: not throttled), built on first use. */
    policies = new WeakMap();
    constructor(reflector, engine, options, adapterHost) {
        this.reflector = reflector;
        this.engine = engine;
        this.options = options;
        this.adapterHost = adapterHost;
    }
    async canActivate(context) {
        if (context.getType() !== 'http')
            return true;
        const http = context.switchToHttp();
        const request = http.getRequest();
        if (HANDLED.has(request))
            return true;
        const policy = this.policyFor(context);
        if (!policy)
            return true;
        HANDLED.mark(request);
        const described = describeRateLimitRequest(request, routeTemplate(context, request), this.options.scope ?? defaultScope);
        const decision = await this.engine.check(described, policy);
        const response = http.getResponse();
        const adapter = this.adapterHost.httpAdapter;
        if (decision.action === 'allow') {
            const headers = decision.headers;
            for (const name in headers)
                adapter.setHeader(response, name, headers[name]);
            return true;
        }
        // Set here, before Nest's exception layer writes the body: its default filter keeps a
        // `+json` Content-Type and every header already on the response.
        for (const [name, value] of Object.entries(decision.error.headers))
            adapter.setHeader(response, name, value);
        adapter.setHeader(response, 'Content-Type', PROBLEM_CONTENT_TYPE);
        throw new TollgateHttpException(decision.error);
    }
    policyFor(context) {
        const controller = context.getClass();
        const handler = context.getHandler();
        let byHandler = this.policies.get(controller);
        if (!byHandler)
            this.policies.set(controller, (byHandler = new WeakMap()));
        let policy = byHandler.get(handler);
        if (policy === undefined) {
            policy = this.resolvePolicy(context);
            byHandler.set(handler, policy);
        }
        return policy;
    }
    resolvePolicy(context) {
        const controller = context.getClass();
        const handler = context.getHandler();
        const defaults = this.options.throttle;
        const onController = this.reflector.get(ThrottleMetadata, controller);
        const onHandler = this.reflector.get(ThrottleMetadata, handler);
        if (!defaults?.limits && !onController && !onHandler)
            return null;
        const skip = mergeSkips(this.reflector.get(SkipThrottleMetadata, controller), this.reflector.get(SkipThrottleMetadata, handler));
        try {
            const policy = resolveThrottlePolicy([{ limits: defaults?.limits, settings: defaults }, onController, onHandler], skip);
            return policy.limits.length > 0 ? policy : null;
        }
        catch (error) {
            new Logger('Tollgate').error(`invalid throttle options on ${controller.name}.${handler.name}`);
            throw error;
        }
    }
};
ThrottleGuard = __decorate([
    Injectable(),
    __param(2, Inject(MODULE_OPTIONS_TOKEN)),
    __metadata("design:paramtypes", [Reflector,
        RateLimitEngine, Object, HttpAdapterHost])
], ThrottleGuard);
export { ThrottleGuard };
/**
 * The handler's `@SkipThrottle()` wins over the controller's, name by name: a controller may skip
 * everything and one handler bring back `{ burst: false }`.
 */
function mergeSkips(onController, onHandler) {
    return (name) => {
        for (const layer of [onHandler, onController]) {
            if (layer === undefined)
                continue;
            if (layer === true)
                return true;
            if (Object.prototype.hasOwnProperty.call(layer, name))
                return layer[name] === true;
        }
        return false;
    };
}
//# sourceMappingURL=throttle.guard.js.map