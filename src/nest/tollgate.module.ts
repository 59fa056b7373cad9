import {
  Inject,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { DiscoveryModule, DiscoveryService } from '@nestjs/core';

import {
  describeIdempotencyEvent,
  IdempotencyEngine,
  type IdempotencyEvent,
} from '../core/idempotency/engine.js';
import { resolveIdempotencyPolicy } from '../core/idempotency/options.js';
import { ExclusiveLeases, type ExclusiveLeaseEvent } from '../core/lease/exclusive.js';
import {
  RateLimitEngine,
  storeCannotRateLimit,
  type RateLimitEvent,
  describeRateLimitEvent,
} from '../core/ratelimit/engine.js';
import { validateThrottleDefaults } from '../core/ratelimit/options.js';
import { MemoryStore } from '../stores/memory/memory-store.js';
import { TollgateStore } from '../core/store.js';
import { exclusiveMethods } from './exclusive.decorator.js';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';
import { ThrottleAdmin } from './throttle.admin.js';
import { ThrottleGuard } from './throttle.guard.js';
import {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN,
  type TollgateModuleOptions,
} from './tollgate.module-definition.js';

const logger = new Logger('Tollgate');

const logEvent = (event: IdempotencyEvent): void => logger.warn(describeIdempotencyEvent(event));
const logRateLimitEvent = (event: RateLimitEvent): void =>
  logger.warn(describeRateLimitEvent(event));
const logLeaseEvent = (event: ExclusiveLeaseEvent): void => {
  if (event.type === 'lease-lost')
    logger.warn(`lost the exclusive lease ${event.name}: ${event.reason}`);
};

/**
 * Tollgate for NestJS. `TollgateModule.forRoot({ store })` or `forRootAsync({ useFactory, inject })`;
 * global by default. Closes its store when the application shuts down.
 */
@Module({
  imports: [DiscoveryModule],
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
    ThrottleAdmin,
    {
      provide: ExclusiveLeases,
      useFactory: (store: TollgateStore, options: TollgateModuleOptions) =>
        new ExclusiveLeases(store, {
          ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
          onEvent: logLeaseEvent,
        }),
      inject: [TollgateStore, MODULE_OPTIONS_TOKEN],
    },
  ],
  exports: [
    ExclusiveLeases,
    TollgateStore,
    IdempotencyEngine,
    IdempotencyInterceptor,
    RateLimitEngine,
    ThrottleGuard,
    ThrottleAdmin,
    MODULE_OPTIONS_TOKEN,
  ],
})
export class TollgateModule
  extends ConfigurableModuleClass
  implements OnModuleInit, OnApplicationShutdown
{
  constructor(
    @Inject(TollgateStore) private readonly store: TollgateStore,
    private readonly leases: ExclusiveLeases,
    private readonly discovery: DiscoveryService,
  ) {
    super();
  }

  /** Finds the providers and controllers with `@Exclusive()` methods and gives them this app's leases. */
  onModuleInit(): void {
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      const instance: unknown = wrapper.instance;
      if (exclusiveMethods.has(instance)) exclusiveMethods.bind(instance, this.leases);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    // Leases first, so a standby takes over at once, then the store they live in.
    await exclusiveMethods.releaseAll(this.leases);
    await this.store.close?.();
  }
}
