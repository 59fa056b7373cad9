import {
  Inject,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { DiscoveryModule, DiscoveryService } from '@nestjs/core';

import { IdempotencyEngine } from '../core/idempotency/engine.js';
import { resolveIdempotencyPolicy } from '../core/idempotency/options.js';
import { ExclusiveLeases } from '../core/lease/exclusive.js';
import { RateLimitEngine } from '../core/ratelimit/engine.js';
import type { RateLimitEvent } from '../core/ratelimit/events.js';
import { validateThrottleDefaults } from '../core/ratelimit/policy.js';
import { waitForStore } from '../core/startup.js';
import { MemoryStore } from '../stores/memory/memory-store.js';
import { TollgateStore } from '../core/store.js';
import { exclusiveMethods } from './exclusive.decorator.js';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';
import { ThrottleAdmin } from './throttle.admin.js';
import { ThrottleGuard } from './throttle.guard.js';
import {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN,
  THROTTLE_MODULE_OPTIONS,
  type TollgateModuleOptions,
} from './tollgate.module-definition.js';

const logger = new Logger('Tollgate');

/** Where the engines' default reporters write when the app listens to nothing itself. */
const warn = (line: string): void => logger.warn(line);

/**
 * The rate-limit engine's listener: the module's `onEvent` and `throttle.onEvent`, both when both
 * are given; `undefined` when neither is, so the engine keeps its quiet default.
 */
function rateLimitListener(
  options: TollgateModuleOptions,
): ((event: RateLimitEvent) => void) | undefined {
  const all = options.onEvent;
  const own = options.throttle?.onEvent;
  if (all && own) {
    return (event) => {
      try {
        own(event);
      } finally {
        all(event);
      }
    };
  }
  return own ?? all;
}

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
          ...(options.onEvent === undefined ? { warn } : { onEvent: options.onEvent }),
          ...(options.resultCache === undefined ? {} : { resultCache: options.resultCache }),
        });
      },
      inject: [TollgateStore, MODULE_OPTIONS_TOKEN],
    },
    IdempotencyInterceptor,
    {
      provide: RateLimitEngine,
      useFactory: (store: TollgateStore, options: TollgateModuleOptions) => {
        // Module-wide defaults are checked at start-up, not on the first request.
        const defaults = validateThrottleDefaults(options.throttle, {
          where: 'TollgateModule.forRoot({ throttle })',
          own: THROTTLE_MODULE_OPTIONS,
        });
        const onEvent = rateLimitListener(options);
        const engine = new RateLimitEngine(options.throttle?.store ?? store, {
          ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
          ...(options.throttle?.localMaxKeys === undefined
            ? {}
            : { localMaxKeys: options.throttle.localMaxKeys }),
          ...(options.throttle?.blockCache === undefined
            ? {}
            : { blockCache: options.throttle.blockCache }),
          ...(onEvent === undefined ? { warn } : { onEvent }),
        });
        // Module-wide limits apply to every route: the store must serve them from the start.
        if (defaults && options.throttle?.limits) engine.requireStoreFor(defaults);
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
          ...(options.onEvent === undefined ? { warn } : { onEvent: options.onEvent }),
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
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: TollgateModuleOptions,
    private readonly leases: ExclusiveLeases,
    private readonly discovery: DiscoveryService,
  ) {
    super();
  }

  /**
   * Gives the providers and controllers with `@Exclusive()` methods this app's leases, then waits
   * (bounded) for the store, so the first requests after `listen()` find it connected.
   */
  async onModuleInit(): Promise<void> {
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      const instance: unknown = wrapper.instance;
      if (exclusiveMethods.has(instance)) exclusiveMethods.bind(instance, this.leases);
    }
    const wait = this.options.waitForStore;
    if (wait === false) return;
    try {
      await waitForStore(this.store, { ...wait, log: (line) => logger.warn(line) });
    } catch (error) {
      // Nest runs no shutdown hook for an application that failed to start: close the store's own
      // connection here, or its reconnect timers would keep the failed process alive.
      await this.store.close?.();
      throw error;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    // Leases first, so a standby takes over at once, then the store they live in.
    await exclusiveMethods.releaseAll(this.leases);
    await this.store.close?.();
    const limits = this.options.throttle?.store;
    if (limits && limits !== this.store) await limits.close?.();
  }
}
