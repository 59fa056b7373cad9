/**
 * Limits per request, skip rules (with give-backs after the response) and the admin API, over
 * HTTP on every adapter (plain Express, Nest on Express, Nest on Fastify) and every store kind
 * (memory, one redis-server, a Redis Cluster): the same routes, the same expectations.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  Controller,
  Get,
  HttpCode,
  HttpException,
  Module,
  Post,
  Query,
  Req,
  UnauthorizedException,
  type DynamicModule,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { throttle, type ThrottleMiddleware } from '../../src/express.js';
import {
  MemoryStore,
  RedisStore,
  type RateLimitRejection,
  type RateLimitRequest,
  type RateLimitResult,
  type ThrottleLimits,
  type ThrottleSettings,
  type TollgateStore,
} from '../../src/index.js';
import { Throttle, ThrottleAdmin, TollgateModule } from '../../src/nest.js';
import { request, type HttpResult } from '../helpers/http.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const ADAPTERS = ['express', 'nest-express', 'nest-fastify'] as const;
const STORES = ['memory', 'redis', 'cluster'] as const;
type Adapter = (typeof ADAPTERS)[number];
type StoreKind = (typeof STORES)[number];

/**
 * An address no other test of this file uses (100.64.0.0/10): the Redis and Cluster stores are
 * shared by every adapter, and routes counted by address would otherwise meet.
 */
let addressesUsed = 0;
const freshAddress = (): string => {
  addressesUsed++;
  return `100.64.${addressesUsed >> 8}.${addressesUsed & 255}`;
};

/** Every route counts by `X-Client`, so each test has clients of its own. */
const byClient = (req: RateLimitRequest): string | undefined => {
  const client = req.header('x-client');
  return typeof client === 'string' ? client : undefined;
};

const PLAN: ThrottleLimits = {
  plan: {
    limit: async (req) => {
      const plan = req.header('x-plan');
      if (plan === 'broken') return 0;
      return plan === 'pro' ? 4 : 2;
    },
    ttl: (req) => (req.header('x-plan') === 'pro' ? '2m' : '1m'),
    cost: (req) => Number(req.header('x-cost') ?? '1'),
    algorithm: 'fixed-window',
  },
};
const SKIP: [ThrottleLimits, ThrottleSettings] = [
  { one: { limit: 1, ttl: '1m' } },
  {
    tracker: byClient,
    skip: async (req) => req.header('x-internal') === 'yes',
    ignoreUserAgents: [/healthcheck/i],
  },
];
const FAILURES: [ThrottleLimits, ThrottleSettings] = [
  {
    tries: { limit: 2, ttl: '1m' },
    hourly: { limit: 50, ttl: '1h', algorithm: 'token-bucket' },
    window: { limit: 50, ttl: '1h', algorithm: 'fixed-window' },
  },
  { tracker: byClient, skipSuccessfulRequests: true },
];
const SUCCESSES: [ThrottleLimits, ThrottleSettings] = [
  { tries: { limit: 2, ttl: '1m' } },
  { tracker: byClient, skipFailedRequests: true },
];
/** Clients are told apart by `X-Forwarded-For`, set by the test as a trusted proxy on loopback would. */
const LISTS: [ThrottleLimits, ThrottleSettings] = [
  { one: { limit: 1, ttl: '1m' } },
  {
    trustProxy: ['127.0.0.0/8', '::1'],
    allowList: ['198.51.100.0/24', '2001:db8:1::/48'],
    denyList: ['203.0.113.0/24', '192.0.2.66'],
  },
];
/** The address as Express (`trust proxy`) or Fastify (`trustProxy`) computed it. */
const FRAMEWORK: [ThrottleLimits, ThrottleSettings] = [
  { one: { limit: 1, ttl: '1m' } },
  { trustProxy: 'framework' },
];
/** A 429 of the app's own, and the legacy headers beside the standard ones. */
const CUSTOM: [ThrottleLimits, ThrottleSettings] = [
  { one: { limit: 1, ttl: '1m' }, wide: { limit: 10, ttl: '1h' } },
  { tracker: byClient, legacyHeaders: true },
];
const customBody = (rejection: RateLimitRejection) => ({
  message: 'slow down',
  status: rejection.error.status,
  limits: rejection.error.toProblem().limits,
});
const GUARDED: [ThrottleLimits, ThrottleSettings] = [
  { burst: { limit: 3, ttl: '1m' } },
  { tracker: byClient },
];

// ---- plain Express ------------------------------------------------------------------------

function expressApp(store: TollgateStore): express.Express {
  const limit = (limits: ThrottleLimits, settings: ThrottleSettings = {}): ThrottleMiddleware =>
    throttle({ store, limits, onEvent: () => undefined, ...settings });
  const ok = (_req: Request, res: Response): void => {
    res.json({ ok: true });
  };
  const outcome = (req: Request, res: Response): void => {
    if (req.query.ok === '1') res.json({ ok: true });
    else res.status(401).json({ ok: false });
  };
  const app = express();
  app.set('trust proxy', 'loopback');
  app.get('/lists', limit(...LISTS), ok);
  app.get('/framework', limit(...FRAMEWORK), ok);
  app.get('/plan', limit(PLAN, { tracker: byClient }), ok);
  app.get(
    '/custom',
    throttle({
      store,
      limits: CUSTOM[0],
      ...CUSTOM[1],
      onEvent: () => undefined,
      handler: (_req, res, _next, rejection) => {
        res.statusCode = rejection.error.status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(customBody(rejection)));
      },
    }),
    ok,
  );
  app.get('/skip', limit(...SKIP), ok);
  app.get('/failures', limit(...FAILURES), outcome);
  app.get('/successes', limit(...SUCCESSES), outcome);
  const guarded = limit(...GUARDED);
  app.get('/guarded', guarded, (req: Request, res: Response, next: NextFunction) => {
    if (req.query.reset !== '1') return ok(req, res);
    guarded.reset(req).then(() => ok(req, res), next);
  });
  const ref = (req: Request) => ({ counter: 'GET /guarded', tracker: String(req.query.client) });
  app.get('/admin/state', (req, res, next) => {
    guarded.get(ref(req)).then((state) => res.json(state), next);
  });
  app.post('/admin/:action', (req, res, next) => {
    const units = Number(req.query.units ?? '1');
    const done = (): void => void res.status(204).end();
    const action = req.params.action;
    const run =
      action === 'reset'
        ? guarded.reset(ref(req))
        : action === 'penalty'
          ? guarded.penalty(ref(req), units)
          : guarded.reward(ref(req), units);
    run.then(done, next);
  });
  return app;
}

// ---- Nest (Express and Fastify) -----------------------------------------------------------

@Controller()
class RulesController {
  constructor(private readonly admin: ThrottleAdmin) {}

  @Get('lists')
  @Throttle(...LISTS)
  lists(): { ok: true } {
    return { ok: true };
  }

  @Get('framework')
  @Throttle(...FRAMEWORK)
  framework(): { ok: true } {
    return { ok: true };
  }

  @Get('custom')
  @Throttle(...CUSTOM)
  custom(): { ok: true } {
    return { ok: true };
  }

  @Get('plan')
  @Throttle(PLAN, { tracker: byClient })
  plan(): { ok: true } {
    return { ok: true };
  }

  @Get('skip')
  @Throttle(...SKIP)
  skip(): { ok: true } {
    return { ok: true };
  }

  @Get('failures')
  @Throttle(...FAILURES)
  failures(@Query('ok') ok?: string): { ok: true } {
    if (ok !== '1') throw new UnauthorizedException();
    return { ok: true };
  }

  @Get('successes')
  @Throttle(...SUCCESSES)
  successes(@Query('ok') ok?: string): { ok: true } {
    if (ok !== '1') throw new UnauthorizedException();
    return { ok: true };
  }

  @Get('guarded')
  @Throttle(...GUARDED)
  async guarded(@Req() req: object, @Query('reset') reset?: string): Promise<{ ok: true }> {
    if (reset === '1') await this.admin.reset(req);
    return { ok: true };
  }

  @Get('admin/state')
  state(@Query('client') client: string): Promise<RateLimitResult> {
    return this.admin
      .forRoute(RulesController, 'guarded')
      .get({ counter: 'GET /guarded', tracker: client });
  }

  @Post('admin/:action')
  @HttpCode(204)
  async act(
    @Req() req: { params: { action: string } },
    @Query('client') client: string,
    @Query('units') units?: string,
  ): Promise<void> {
    const limiter = this.admin.forRoute(RulesController, 'guarded');
    const ref = { counter: 'GET /guarded', tracker: client };
    const action = req.params.action;
    if (action === 'reset') await limiter.reset(ref);
    else if (action === 'penalty') await limiter.penalty(ref, Number(units ?? '1'));
    else await limiter.reward(ref, Number(units ?? '1'));
  }
}

@Module({})
class RulesModule {
  static register(store: TollgateStore): DynamicModule {
    return {
      module: RulesModule,
      imports: [
        TollgateModule.forRoot({
          store,
          throttle: {
            onEvent: () => undefined,
            // Only for /custom: every other route keeps the default problem.
            onRejected: (rejection, context) => {
              const url = context.switchToHttp().getRequest<{ url: string }>().url;
              if (!url.startsWith('/custom')) return undefined;
              return new HttpException(customBody(rejection), rejection.error.status);
            },
          },
        }),
      ],
      controllers: [RulesController],
    };
  }
}

// ---- the servers --------------------------------------------------------------------------

let redis: RedisServer | undefined;
let cluster: RedisClusterHandle | undefined;

beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

function newStore(kind: StoreKind): TollgateStore {
  if (kind === 'memory') return new MemoryStore();
  if (kind === 'redis') return new RedisStore({ url: (redis as RedisServer).url });
  return new RedisStore({ cluster: (cluster as RedisClusterHandle).nodes });
}

async function serve(
  adapter: Adapter,
  store: TollgateStore,
): Promise<{ baseUrl: string; close(): Promise<void> }> {
  if (adapter === 'express') {
    const server: Server = expressApp(store).listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      async close() {
        const closed = new Promise((done) => server.close(done));
        server.closeAllConnections();
        await closed;
        await store.close?.();
      },
    };
  }
  const module = RulesModule.register(store);
  // Each platform's own proxy trust, for `trustProxy: 'framework'`.
  const app: INestApplication =
    adapter === 'nest-fastify'
      ? await NestFactory.create(module, new FastifyAdapter({ trustProxy: '127.0.0.1' }), {
          logger: false,
        })
      : await NestFactory.create(module, { logger: false });
  if (adapter === 'nest-express') {
    (app.getHttpAdapter().getInstance() as express.Express).set('trust proxy', 'loopback');
  }
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    close: () => app.close(),
  };
}

describe.each(ADAPTERS.flatMap((adapter) => STORES.map((kind) => [adapter, kind] as const)))(
  'rate-limit rules on %s, %s store',
  (adapter, storeKind) => {
    let baseUrl: string;
    let close: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const store = newStore(storeKind);
      await store.ready?.();
      ({ baseUrl, close } = await serve(adapter, store));
    });

    afterAll(async () => {
      await close?.();
    });

    const get = (path: string, headers: Record<string, string> = {}): Promise<HttpResult> =>
      request(baseUrl, 'GET', path, { headers });
    const statuses = async (
      path: string,
      headers: Record<string, string>,
      times: number,
      pauseMs = 0,
    ): Promise<number[]> => {
      const seen: number[] = [];
      for (let i = 0; i < times; i++) {
        seen.push((await get(path, headers)).status);
        // A give-back goes to the store as the response closes: leave it time to land.
        if (pauseMs > 0) await sleep(pauseMs);
      }
      return seen;
    };
    const client = (extra: Record<string, string> = {}): Record<string, string> => ({
      'x-client': randomUUID(),
      ...extra,
    });
    const admin = async (action: string, id: string, units = 1): Promise<void> => {
      const response = await request(
        baseUrl,
        'POST',
        `/admin/${action}?client=${id}&units=${units}`,
      );
      expect(response.status, response.text).toBe(204);
    };
    const stateOf = async (id: string): Promise<RateLimitResult> =>
      (await get(`/admin/state?client=${id}`)).json<RateLimitResult>();

    it('allow list: never counted; deny list: 403 address-denied; the address behind trusted proxies by CIDR', async () => {
      const from = (chain: string): Record<string, string> => ({ 'x-forwarded-for': chain });
      const allowed = await statuses('/lists', from('198.51.100.7'), 3);
      expect(allowed).toEqual([200, 200, 200]);
      expect((await get('/lists', from('2001:db8:1::5'))).headers.get('ratelimit')).toBeNull();
      for (const chain of ['203.0.113.9', '192.0.2.66', '203.0.113.9, 127.0.0.5']) {
        const denied = await get('/lists', from(chain));
        expect(denied.status, chain).toBe(403);
        expect(denied.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(denied.json()).toMatchObject({
          type: 'https://unpkg.com/tollgate/docs/problems/address-denied.md',
          status: 403,
        });
      }
      // A client-written entry left of an untrusted one is not believed.
      const spoofed = from(`198.51.100.7, ${freshAddress()}`);
      expect(await statuses('/lists', spoofed, 2)).toEqual([200, 429]);
    });

    it("trustProxy 'framework': the address Express or Fastify computed under its own trust setting", async () => {
      const a = { 'x-forwarded-for': freshAddress() };
      expect(await statuses('/framework', a, 2)).toEqual([200, 429]);
      const b = { 'x-forwarded-for': freshAddress() };
      expect((await get('/framework', b)).status).toBe(200);
    });

    it('answers a 429 with the body the app chose, keeping Retry-After and the headers; legacy X-RateLimit-* on request', async () => {
      const headers = client();
      const before = Math.floor(Date.now() / 1000);
      const first = await get('/custom', headers);
      expect(first.status).toBe(200);
      expect(first.headers.get('x-ratelimit-limit')).toBe('1');
      expect(first.headers.get('x-ratelimit-remaining')).toBe('0');
      const reset = Number(first.headers.get('x-ratelimit-reset'));
      expect(reset).toBeGreaterThanOrEqual(before + 59);
      expect(reset).toBeLessThanOrEqual(before + 62);
      const refused = await get('/custom', headers);
      expect(refused.status).toBe(429);
      expect(refused.json()).toEqual({ message: 'slow down', status: 429, limits: ['one'] });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.headers.get('ratelimit')).toMatch(/^"one";r=0;t=\d+, "wide";r=9;t=\d+$/);
      expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    });

    it('names the exhausted limits as violated-policies on the default problem', async () => {
      const headers = client();
      await statuses('/guarded', headers, 3);
      const refused = await get('/guarded', headers);
      expect(refused.status).toBe(429);
      expect(refused.json()).toMatchObject({
        type: 'https://unpkg.com/tollgate/docs/problems/rate-limited.md',
        limits: ['burst'],
        'violated-policies': ['burst'],
      });
      expect(refused.headers.get('x-ratelimit-limit')).toBeNull();
    });

    it('gives each request the limit, window and cost its functions return', async () => {
      expect(await statuses('/plan', client(), 3)).toEqual([200, 200, 429]);
      const pro = client({ 'x-plan': 'pro' });
      const first = await get('/plan', pro);
      expect(first.headers.get('ratelimit-policy')).toBe('"plan";q=4;w=120');
      expect(await statuses('/plan', pro, 4)).toEqual([200, 200, 200, 429]);
      expect(await statuses('/plan', client({ 'x-cost': '2' }), 2)).toEqual([200, 429]);
    });

    it('fails a request whose limit function returns a bad value, rather than passing it', async () => {
      const response = await get('/plan', client({ 'x-plan': 'broken' }));
      expect(response.status).toBe(500);
    });

    it('does not count requests that skip() or ignoreUserAgents leave out', async () => {
      const headers = client();
      expect(await statuses('/skip', { ...headers, 'x-internal': 'yes' }, 3)).toEqual([
        200, 200, 200,
      ]);
      const skipped = await get('/skip', { ...headers, 'user-agent': 'HealthCheck/1.0' });
      expect(skipped.status).toBe(200);
      expect(skipped.headers.get('ratelimit')).toBeNull();
      expect(await statuses('/skip', headers, 2)).toEqual([200, 429]);
    });

    it('skipSuccessfulRequests: successes are given back, failures count, and no credit builds up', async () => {
      const headers = client();
      expect(await statuses('/failures?ok=1', headers, 5, 40)).toEqual([200, 200, 200, 200, 200]);
      expect(await statuses('/failures', headers, 3, 40)).toEqual([401, 401, 429]);
      // Exhausted by failures: a success is refused too until the window ends.
      expect((await get('/failures?ok=1', headers)).status).toBe(429);
    });

    it('skipSuccessfulRequests: concurrent failures are admitted at most `limit` times', async () => {
      const headers = client();
      const results = await Promise.all(
        Array.from({ length: 10 }, () => get('/failures', headers)),
      );
      const seen = results.map((result) => result.status).sort();
      expect(seen).toEqual([401, 401, 429, 429, 429, 429, 429, 429, 429, 429]);
    });

    it('skipSuccessfulRequests: concurrent successes are all given back, on every limit', async () => {
      const headers = client();
      // Pairs of two, so each pair fits the limit of 2 and every one is admitted.
      for (let round = 0; round < 3; round++) {
        const pair = await Promise.all([
          get('/failures?ok=1', headers),
          get('/failures?ok=1', headers),
        ]);
        expect(pair.map((result) => result.status)).toEqual([200, 200]);
        await sleep(60);
      }
      const next = await get('/failures', headers);
      expect(next.status).toBe(401);
      // Every limit had the six successes given back: one failure taken on each.
      expect(next.headers.get('ratelimit')).toBe(
        '"tries";r=1;t=60, "hourly";r=49;t=72, "window";r=49;t=3600',
      );
    });

    it('skipFailedRequests: failures are given back, successes count', async () => {
      const headers = client();
      expect(await statuses('/successes', headers, 3, 40)).toEqual([401, 401, 401]);
      expect(await statuses('/successes?ok=1', headers, 3, 40)).toEqual([200, 200, 429]);
    });

    it('admin API: reads, rewards, penalises and resets a client named by counter and tracker', async () => {
      const id = randomUUID();
      const headers = { 'x-client': id };
      expect(await statuses('/guarded', headers, 4)).toEqual([200, 200, 200, 429]);
      const exhausted = await stateOf(id);
      expect(exhausted.allowed).toBe(false);
      expect(exhausted.limits[0]).toMatchObject({ name: 'burst', allowed: false, remaining: 0 });
      await admin('reward', id);
      expect((await stateOf(id)).limits[0]).toMatchObject({ allowed: true, remaining: 1 });
      expect(await statuses('/guarded', headers, 2)).toEqual([200, 429]);
      await admin('reset', id);
      expect((await stateOf(id)).limits[0]).toMatchObject({ allowed: true, remaining: 3 });
      await admin('penalty', id, 2);
      expect((await stateOf(id)).limits[0]?.remaining).toBe(1);
      expect(await statuses('/guarded', headers, 2)).toEqual([200, 429]);
    });

    it('admin API: a handler resets the client of the request it is handling', async () => {
      expect(await statuses('/guarded?reset=1', client(), 6)).toEqual([
        200, 200, 200, 200, 200, 200,
      ]);
    });
  },
);
