/**
 * `@SkipThrottle()` on a controller and on its handlers together, over HTTP: which limits a route
 * keeps is read from the `RateLimit-Policy` header it answers with (one entry per limit kept).
 */
import type { AddressInfo } from 'node:net';

import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MemoryStore } from '../../src/index.js';
import { SkipThrottle, Throttle, ThrottleGuard, TollgateModule } from '../../src/nest.js';
import { request } from '../helpers/http.js';
import { createNestApp, NEST_PLATFORMS } from '../helpers/nest-platforms.js';

/** Two named limits on every route below, besides the module's "base". */
const LIMITS = { a: { limit: 5, ttl: '10s' }, b: { limit: 6, ttl: '10s' } } as const;

@Controller('class-a')
@Throttle(LIMITS)
@SkipThrottle({ a: true })
class SkipsAController {
  @Get('none')
  none(): string {
    return 'ok';
  }

  @Get('handler-b')
  @SkipThrottle({ b: true })
  handlerB(): string {
    return 'ok';
  }

  @Get('handler-a-back')
  @SkipThrottle({ a: false })
  handlerABack(): string {
    return 'ok';
  }
}

@Controller('class-b')
@Throttle(LIMITS)
@SkipThrottle({ b: true })
class SkipsBController {
  @Get('handler-a')
  @SkipThrottle({ a: true })
  handlerA(): string {
    return 'ok';
  }

  @Get('handler-all')
  @SkipThrottle()
  handlerAll(): string {
    return 'ok';
  }
}

@Controller('stacked')
@Throttle(LIMITS)
class StackedController {
  /** Two decorators on one handler: both names are skipped, as with one `@SkipThrottle('a', 'b')`. */
  @Get('a-and-b')
  @SkipThrottle('a')
  @SkipThrottle({ b: true })
  aAndB(): string {
    return 'ok';
  }

  /** Everything off but "a", in two decorators on one handler, in either order. */
  @Get('all-but-a')
  @SkipThrottle()
  @SkipThrottle({ a: false })
  allButA(): string {
    return 'ok';
  }

  @Get('all-but-a-reversed')
  @SkipThrottle({ a: false })
  @SkipThrottle()
  allButAReversed(): string {
    return 'ok';
  }

  /** One name given twice on one handler: the decorator written first (the outer one) wins. */
  @Get('a-twice')
  @SkipThrottle({ a: true })
  @SkipThrottle({ a: false })
  aTwice(): string {
    return 'ok';
  }
}

@Module({
  imports: [
    TollgateModule.forRoot({
      store: new MemoryStore(),
      throttle: { limits: { base: { limit: 4, ttl: '10s' } } },
    }),
  ],
  controllers: [SkipsAController, SkipsBController, StackedController],
  providers: [{ provide: APP_GUARD, useClass: ThrottleGuard }],
})
class SkipsModule {}

const BASE = '"base";q=4;w=10';
const A = '"a";q=5;w=10';
const B = '"b";q=6;w=10';

describe.each(NEST_PLATFORMS)('stacked @SkipThrottle on Nest/%s, over HTTP', (platform) => {
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    app = await createNestApp(SkipsModule, platform);
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => app?.close());

  /** The limits a route keeps, as its RateLimit-Policy header lists them. */
  const kept = async (path: string): Promise<string | null> => {
    const response = await request(baseUrl, 'GET', path);
    expect(response.status).toBe(200);
    return response.headers.get('ratelimit-policy');
  };

  it.each([
    ['controller skips a, handler nothing', '/class-a/none', [BASE, B]],
    ['controller skips a, handler b: both are skipped', '/class-a/handler-b', [BASE]],
    ['controller skips b, handler a: both are skipped', '/class-b/handler-a', [BASE]],
    ['controller skips a, handler brings a back', '/class-a/handler-a-back', [BASE, A, B]],
    ['controller skips b, handler skips everything', '/class-b/handler-all', null],
    ['two decorators on one handler add up', '/stacked/a-and-b', [BASE]],
    ['@SkipThrottle() and { a: false } on one handler', '/stacked/all-but-a', [A]],
    ['the same, in the other order', '/stacked/all-but-a-reversed', [A]],
    ['one name twice on one handler: the outer decorator', '/stacked/a-twice', [BASE, B]],
  ])('%s', async (_, path, policies) => {
    expect(await kept(path)).toBe(policies === null ? null : policies.join(', '));
  });
});
