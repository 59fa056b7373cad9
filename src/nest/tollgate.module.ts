import { Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';

import { IdempotencyEngine, type IdempotencyEvent } from '../core/idempotency/engine.js';
import { resolveIdempotencyPolicy } from '../core/idempotency/options.js';
import {
  RateLimitEngine,
  storeCannotRateLimit,
  type RateLimitEvent,
} from '../core/ratelimit/engine.js';
import { validateThrottleDefaults } from '../core/ratelimit/options.js';
import { MemoryStore } from '../stores/memory/memory-store.js';
import { TollgateStore } from '../stores/store.js';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';
import { ThrottleGuard } from './throttle.guard.js';
import {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN,
  type TollgateModuleOptions,
} from './tollgate.module-definition.js';

const logger = new Logger('Tollgate');

function logEvent(event: IdempotencyEvent): void {
  switch (event.type) {
    case 'store-unavailable':
      logger.warn(
        `store unavailable, request ${event.policy === 'allow' ? 'ran unprotected' : 'rejected with 503'}: ${event.error.message}`,
      );
      break;
    case 'lease-lost':
      logger.warn(`lost the in-progress lease of ${event.key}: its result was not stored`);
      break;
    case 'finish-failed':
      logger.warn(`could not record the result of ${event.key}: ${event.error.message}`);
      break;
  }
}

function logRateLimitEvent(event: RateLimitEvent): void {
  const outcome = {
    allowed: 'passed unchecked',
    rejected: 'rejected with 503',
    local: 'checked by the in-process limiter',
  }[event.outcome];
  logger.warn(`store unavailable for rate limiting, request ${outcome}: ${event.error.message}`);
}

/**
 * Tollgate for NestJS. `TollgateModule.forRoot({ store })` or `forRootAsync({ useFactory, inject })`;
 * global by default. Closes its store when the application shuts down.
 */
@Module({
  providers: [
    {
      provide: TollgateStore,
      useFactory: (options: TollgateModuleOptions) => options.store ?? new MemoryStore(),
      inject: [MODULE_OPTIONS_TOKEN],
    },
    {
      provide: IdempotencyEngine,
      useFactory: (store: TollgateStore, options: TollgateModuleOptions) => {
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
      useFactory: (store: TollgateStore, options: TollgateModuleOptions) => {
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
})
export class TollgateModule extends ConfigurableModuleClass implements OnApplicationShutdown {
  constructor(@Inject(TollgateStore) private readonly store: TollgateStore) {
    super();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close?.();
  }
}
