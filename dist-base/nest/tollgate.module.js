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
import { Inject, Logger, Module } from '@nestjs/common';
import { describeIdempotencyEvent, IdempotencyEngine, } from '../core/idempotency/engine.js';
import { resolveIdempotencyPolicy } from '../core/idempotency/options.js';
import { RateLimitEngine, storeCannotRateLimit, describeRateLimitEvent, } from '../core/ratelimit/engine.js';
import { validateThrottleDefaults } from '../core/ratelimit/options.js';
import { MemoryStore } from '../stores/memory/memory-store.js';
import { TollgateStore } from '../stores/store.js';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';
import { ThrottleGuard } from './throttle.guard.js';
import { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, } from './tollgate.module-definition.js';
const logger = new Logger('Tollgate');
const logEvent = (event) => logger.warn(describeIdempotencyEvent(event));
const logRateLimitEvent = (event) => logger.warn(describeRateLimitEvent(event));
/**
 * Tollgate for NestJS. `TollgateModule.forRoot({ store })` or `forRootAsync({ useFactory, inject })`;
 * global by default. Closes its store when the application shuts down.
 */
let TollgateModule = class TollgateModule extends ConfigurableModuleClass {
    store;
    constructor(store) {
        super();
        this.store = store;
    }
    async onApplicationShutdown() {
        await this.store.close?.();
    }
};
TollgateModule = __decorate([
    Module({
        providers: [
            {
                provide: TollgateStore,
                useFactory: (options) => options.store ?? new MemoryStore(),
                inject: [MODULE_OPTIONS_TOKEN],
            },
            {
                provide: IdempotencyEngine,
                useFactory: (store, options) => {
                    // Module-wide defaults are checked at start-up, not on the first request.
                    resolveIdempotencyPolicy(undefined, options.idempotency, { decorated: false });
                    return new IdempotencyEngine(store, {
                        ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
                        onEvent: options.onEvent ?? logEvent,
                    });
                },
                inject: [TollgateStore, MODULE_OPTIONS_TOKEN],
            },
            IdempotencyInterceptor,
            {
                provide: RateLimitEngine,
                useFactory: (store, options) => {
                    // Module-wide defaults are checked at start-up, not on the first request.
                    validateThrottleDefaults(options.throttle);
                    const engine = new RateLimitEngine(store, {
                        ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
                        ...(options.throttle?.localMaxKeys === undefined
                            ? {}
                            : { localMaxKeys: options.throttle.localMaxKeys }),
                        onEvent: options.throttle?.onEvent ?? logRateLimitEvent,
                    });
                    if (options.throttle?.limits && !engine.storeSupportsRateLimiting) {
                        throw storeCannotRateLimit();
                    }
                    return engine;
                },
                inject: [TollgateStore, MODULE_OPTIONS_TOKEN],
            },
            ThrottleGuard,
        ],
        exports: [
            TollgateStore,
            IdempotencyEngine,
            IdempotencyInterceptor,
            RateLimitEngine,
            ThrottleGuard,
            MODULE_OPTIONS_TOKEN,
        ],
    }),
    __param(0, Inject(TollgateStore)),
    __metadata("design:paramtypes", [Object])
], TollgateModule);
export { TollgateModule };
//# sourceMappingURL=tollgate.module.js.map