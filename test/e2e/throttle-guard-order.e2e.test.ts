/**
 * Who a ThrottleGuard counts depends on whether authentication ran before it: Nest runs global
 * guards (APP_GUARD, in the order they are registered), then the controller's, then the handler's.
 * Each app below is one such arrangement, over HTTP; every request comes from the same address, so
 * a second user passing where the first is refused shows the counter is the user's, not the address's.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

import {
  Controller,
  Get,
  Injectable,
  Module,
  Req,
  UseGuards,
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
  type INestApplication,
  type Provider,
  type Type,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MemoryStore } from '../../src/index.js';
import { Throttle, ThrottleGuard, TollgateModule } from '../../src/nest.js';
import { request } from '../helpers/http.js';
import { createNestApp, NEST_PLATFORMS } from '../helpers/nest-platforms.js';

interface AuthRequest {
  headers: Record<string, unknown>;
  user?: { id: string };
}

/** `Authorization: Bearer <name>` makes `<name>` the user; no header, an anonymous request. */
@Injectable()
class BearerGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<AuthRequest>();
    const match = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''));
    if (match?.[1]) req.user = { id: match[1] };
    return true;
  }
}

const whoAmI = (req: AuthRequest): { user: string | null } => ({ user: req.user?.id ?? null });

/** Global auth and global throttling: the auth guard is registered first. */
@Controller('global')
class GlobalAuthController {
  @Get()
  get(@Req() req: AuthRequest): { user: string | null } {
    return whoAmI(req);
  }
}

/** Auth on the controller while throttling is global: the throttle runs first. */
@Controller('controller-auth')
@UseGuards(BearerGuard)
class ControllerAuthController {
  @Get()
  get(@Req() req: AuthRequest): { user: string | null } {
    return whoAmI(req);
  }
}

/** Auth on the controller, the limit on the handler: handler guards run after the controller's. */
@Controller('handler-limit')
@UseGuards(BearerGuard)
class HandlerLimitController {
  @Get()
  @Throttle({ own: { limit: 2, ttl: '10s' } })
  get(@Req() req: AuthRequest): { user: string | null } {
    return whoAmI(req);
  }
}

/**
 * Both on the controller: `@Throttle()` written above `@UseGuards()`, so it is applied after it
 * and its guard comes after the auth guard.
 */
@Controller('class-limit')
@Throttle({ own: { limit: 2, ttl: '10s' } })
@UseGuards(BearerGuard)
class ClassLimitController {
  @Get()
  get(@Req() req: AuthRequest): { user: string | null } {
    return whoAmI(req);
  }
}

/**
 * The same, `@Throttle()` written below `@UseGuards()`: applied first, so its guard runs first,
 * before any user is known.
 */
@Controller('class-limit-below')
@UseGuards(BearerGuard)
@Throttle({ own: { limit: 2, ttl: '10s' } })
class ClassLimitBelowController {
  @Get()
  get(@Req() req: AuthRequest): { user: string | null } {
    return whoAmI(req);
  }
}

@Module({})
class GuardOrderModule {
  static register(
    controllers: Array<Type<unknown>>,
    providers: Provider[],
    moduleLimits: boolean,
  ): DynamicModule {
    return {
      module: GuardOrderModule,
      imports: [
        TollgateModule.forRoot({
          store: new MemoryStore(),
          throttle: moduleLimits ? { limits: { base: { limit: 2, ttl: '10s' } } } : {},
        }),
      ],
      controllers,
      providers,
    };
  }
}

/** Each app of one platform, with a store of its own: address counters are never shared. */
const ARRANGEMENTS = {
  'auth APP_GUARD registered before the global ThrottleGuard': () =>
    GuardOrderModule.register(
      [GlobalAuthController],
      [
        { provide: APP_GUARD, useClass: BearerGuard },
        { provide: APP_GUARD, useClass: ThrottleGuard },
      ],
      true,
    ),
  'auth on the controller, ThrottleGuard global': () =>
    GuardOrderModule.register(
      [ControllerAuthController],
      [{ provide: APP_GUARD, useClass: ThrottleGuard }],
      true,
    ),
  'auth on the controller, @Throttle on the route': () =>
    GuardOrderModule.register(
      [HandlerLimitController, ClassLimitController, ClassLimitBelowController],
      [],
      false,
    ),
};

describe.each(NEST_PLATFORMS)('ThrottleGuard and an auth guard on Nest/%s', (platform) => {
  const apps: INestApplication[] = [];
  const urls = new Map<string, string>();

  beforeAll(async () => {
    for (const [name, module] of Object.entries(ARRANGEMENTS)) {
      const app = await createNestApp(module(), platform);
      apps.push(app);
      await app.listen(0, '127.0.0.1');
      urls.set(name, `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`);
    }
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  /** Two users, one address: the statuses of alice's 3 requests, then of bob's first. */
  async function twoUsers(arrangement: keyof typeof ARRANGEMENTS, path: string) {
    const baseUrl = urls.get(arrangement) as string;
    const [alice, bob] = [`alice-${randomUUID()}`, `bob-${randomUUID()}`];
    const as = (user: string) =>
      request(baseUrl, 'GET', path, { headers: { authorization: `Bearer ${user}` } });
    const first = await as(alice);
    // The handler always sees the user: authentication ran before it, whatever the order.
    expect(first.json()).toEqual({ user: alice });
    const aliceStatuses = [first.status, (await as(alice)).status, (await as(alice)).status];
    return { alice: aliceStatuses, bob: (await as(bob)).status };
  }

  it('counts the authenticated user when the auth APP_GUARD is registered before ThrottleGuard', async () => {
    const seen = await twoUsers(
      'auth APP_GUARD registered before the global ThrottleGuard',
      '/global',
    );
    expect(seen).toEqual({ alice: [200, 200, 429], bob: 200 });
  });

  // 'address': the throttle ran before the user was known, so bob shares the quota alice used up.
  it.each([
    ['a global ThrottleGuard, auth on the controller', 'address', '/controller-auth'],
    ['auth on the controller, @Throttle on the handler', 'user', '/handler-limit'],
    ['@Throttle written above @UseGuards(auth) on the controller', 'user', '/class-limit'],
    ['@Throttle written below @UseGuards(auth) on the controller', 'address', '/class-limit-below'],
  ] as const)('%s: counts the %s', async (_, counted, path) => {
    const seen = await twoUsers(
      path === '/controller-auth'
        ? 'auth on the controller, ThrottleGuard global'
        : 'auth on the controller, @Throttle on the route',
      path,
    );
    expect(seen).toEqual({ alice: [200, 200, 429], bob: counted === 'user' ? 200 : 429 });
  });
});
