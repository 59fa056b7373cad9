/**
 * ThrottleGuard in contexts that are not HTTP (GraphQL resolvers, WebSocket gateways, message
 * handlers): a route that asks for limits is refused with a TollgateConfigError instead of being
 * let through unlimited without a word; module-wide limits are said not to apply, once.
 */
import { Controller, Logger, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { MemoryStore, TollgateConfigError } from '../../src/index.js';
import { SkipThrottle, Throttle, ThrottleGuard, TollgateModule } from '../../src/nest.js';

@Controller()
class Handlers {
  @Throttle({ burst: { limit: 1, ttl: '1s' } })
  limited(): void {}

  plain(): void {}

  @SkipThrottle()
  skipped(): void {}
}

@Throttle({ burst: { limit: 1, ttl: '1s' } })
@Controller()
class LimitedClass {
  any(): void {}

  /** Limits meant for the class's HTTP routes, said not to apply here. */
  @SkipThrottle()
  resolver(): void {}
}

/** Skipped as a whole, with one handler bringing its own "burst" back (as on HTTP). */
@SkipThrottle()
@Controller()
class SkippedClass {
  @SkipThrottle({ burst: false })
  @Throttle({ burst: { limit: 1, ttl: '1s' } })
  back(): void {}

  /** Its only limits are the module's "default", which it skips by name. */
  @SkipThrottle('default')
  noDefault(): void {}
}

@Controller()
class SkippedByName {
  /** Every limit it names is skipped by name: nothing is asked for. */
  @Throttle({ burst: { limit: 1, ttl: '1s' } })
  @SkipThrottle('burst', 'default')
  none(): void {}
}

/** One inherited handler, on a plain class and on a throttled one. */
class BaseResolver {
  list(): void {}
}
@Controller()
class PlainResolver extends BaseResolver {}
@Throttle({ burst: { limit: 1, ttl: '1s' } })
@Controller()
class ThrottledResolver extends BaseResolver {}

@Module({
  imports: [
    TollgateModule.forRoot({
      store: new MemoryStore(),
      throttle: { limits: { default: { limit: 100, ttl: '1m' } } },
    }),
  ],
  controllers: [
    Handlers,
    LimitedClass,
    SkippedClass,
    SkippedByName,
    PlainResolver,
    ThrottledResolver,
  ],
})
class ContextsModule {}

describe('ThrottleGuard outside HTTP', () => {
  let app: INestApplicationContext;
  let guard: ThrottleGuard;

  beforeAll(async () => {
    app = await NestFactory.createApplicationContext(ContextsModule, { logger: false });
    guard = app.get(ThrottleGuard);
  });

  afterAll(() => app?.close());

  const context = (
    type: string,
    controller: new () => object,
    handler: (...args: never[]) => unknown,
  ): ExecutionContextHost => {
    const host = new ExecutionContextHost([{}, {}, {}, {}], controller as never, handler);
    host.setType(type);
    return host;
  };

  it.each(['graphql', 'ws', 'rpc'])(
    'refuses @Throttle on a %s handler with TOLLGATE_THROTTLE_NOT_HTTP, on the handler or its class',
    async (type) => {
      for (const [controller, handler] of [
        [Handlers, Handlers.prototype.limited],
        [LimitedClass, LimitedClass.prototype.any],
      ] as const) {
        const refused = await Promise.resolve()
          .then(() => guard.canActivate(context(type, controller, handler)))
          .catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(TollgateConfigError);
        expect((refused as TollgateConfigError).code).toBe('TOLLGATE_THROTTLE_NOT_HTTP');
        expect((refused as Error).message).toContain(`"${type}" context`);
      }
    },
  );

  it('lets other handlers through, saying once per handler that module-wide limits do not apply', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      for (let i = 0; i < 3; i++) {
        expect(
          await guard.canActivate(context('graphql', Handlers, Handlers.prototype.plain)),
        ).toBe(true);
      }
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain('Handlers.plain');
      // @SkipThrottle() says it already: no warning, and no refusal of its class's @Throttle.
      expect(
        await guard.canActivate(context('graphql', Handlers, Handlers.prototype.skipped)),
      ).toBe(true);
      expect(
        await guard.canActivate(context('graphql', LimitedClass, LimitedClass.prototype.resolver)),
      ).toBe(true);
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });

  it('refuses a handler that brings its @Throttle back by name under a skipped class', async () => {
    const refused = await Promise.resolve()
      .then(() => guard.canActivate(context('graphql', SkippedClass, SkippedClass.prototype.back)))
      .catch((error: unknown) => error);
    expect((refused as TollgateConfigError).code).toBe('TOLLGATE_THROTTLE_NOT_HTTP');
  });

  it('lets through, without a word, a handler whose every limit is skipped by name', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      expect(
        await guard.canActivate(context('graphql', SkippedByName, SkippedByName.prototype.none)),
      ).toBe(true);
      expect(
        await guard.canActivate(context('graphql', SkippedClass, SkippedClass.prototype.noDefault)),
      ).toBe(true);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('judges an inherited handler per class: one class passing does not let the other through', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      expect(
        await guard.canActivate(context('graphql', PlainResolver, BaseResolver.prototype.list)),
      ).toBe(true);
      const refused = await Promise.resolve()
        .then(() =>
          guard.canActivate(context('graphql', ThrottledResolver, BaseResolver.prototype.list)),
        )
        .catch((error: unknown) => error);
      expect((refused as TollgateConfigError).code).toBe('TOLLGATE_THROTTLE_NOT_HTTP');
    } finally {
      warn.mockRestore();
    }
  });
});
