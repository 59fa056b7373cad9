import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  Body,
  Controller,
  Get,
  HttpCode,
  Injectable,
  Module,
  Post,
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import {
  MemoryStore,
  RedisStore,
  type RateLimitEvent,
  type TollgateStore,
} from '../../src/index.js';
import {
  Idempotent,
  SkipThrottle,
  Throttle,
  ThrottleGuard,
  TollgateModule,
} from '../../src/nest.js';
import { request, type HttpResult } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const NEST_PLATFORMS = ['express', 'fastify'] as const;
type NestPlatform = (typeof NEST_PLATFORMS)[number];

function createNestApp(module: object, platform: NestPlatform): Promise<INestApplication> {
  return platform === 'fastify'
    ? NestFactory.create(module, new FastifyAdapter(), { logger: false })
    : NestFactory.create(module, { logger: false });
}

/** `Authorization: Bearer <name>` makes `<name>` the user, as the sample's demo guard does. */
@Injectable()
class BearerGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, unknown>; user?: { id: string } }>();
    const match = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''));
    if (match?.[1]) req.user = { id: match[1] };
    return true;
  }
}

let idempotentRuns = 0;

@Controller('t')
class ThrottledController {
  @Get('five')
  @Throttle({ default: { limit: 5, ttl: '10s' } })
  five(): { ok: true } {
    return { ok: true };
  }

  @Get('short')
  @Throttle({ default: { limit: 2, ttl: '1500ms', algorithm: 'fixed-window' } })
  short(): { ok: true } {
    return { ok: true };
  }

  @Get('multi')
  @Throttle({
    burst: { limit: 3, ttl: '10s' },
    daily: { limit: 100, ttl: '1d', algorithm: 'fixed-window' },
    bucket: { limit: 50, ttl: '1m', algorithm: 'token-bucket' },
  })
  multi(): { ok: true } {
    return { ok: true };
  }

  @Get('flood')
  @Throttle({ default: { limit: 5, ttl: '1m' } })
  flood(): { ok: true } {
    return { ok: true };
  }

  @Get('quiet')
  @Throttle({ default: { limit: 1, ttl: '10s' } }, { headers: 'when-limited' })
  quiet(): { ok: true } {
    return { ok: true };
  }

  /** Throttled before the idempotency interceptor runs: a 429 never touches the key. */
  @Post('idem')
  @HttpCode(201)
  @Throttle({ default: { limit: 2, ttl: '1500ms', algorithm: 'fixed-window' } })
  @Idempotent({ strategy: 'key' })
  idem(@Body() body: unknown): { run: number; body: unknown } {
    idempotentRuns++;
    return { run: idempotentRuns, body };
  }

  @Get('fail-allow')
  @Throttle({ default: { limit: 1, ttl: '1m', onStoreUnavailable: 'allow' } })
  failAllow(): { ok: true } {
    return { ok: true };
  }

  @Get('fail-reject')
  @Throttle({ default: { limit: 1, ttl: '1m', onStoreUnavailable: 'reject' } })
  failReject(): { ok: true } {
    return { ok: true };
  }

  @Get('fail-local')
  @Throttle({ default: { limit: 2, ttl: '1m', onStoreUnavailable: 'local' } })
  failLocal(): { ok: true } {
    return { ok: true };
  }
}

/** With a global ThrottleGuard: module defaults on every route, skipped by name or entirely. */
@Controller('g')
class GlobalController {
  @Get('defaults')
  defaults(): { ok: true } {
    return { ok: true };
  }

  /** The guard is registered globally and by @Throttle: counted once, not twice. */
  @Get('both')
  @Throttle({ route: { limit: 3, ttl: '10s' } })
  @SkipThrottle('base')
  both(): { ok: true } {
    return { ok: true };
  }

  @Get('skip-all')
  @SkipThrottle()
  skipAll(): { ok: true } {
    return { ok: true };
  }

  @Get('skip-base')
  @SkipThrottle({ base: true })
  @Throttle({ own: { limit: 1, ttl: '10s' } })
  skipBase(): { ok: true } {
    return { ok: true };
  }
}

/** Skipped as a whole; one handler brings the module's limit back by name, and changes it. */
@Controller('s')
@SkipThrottle()
class SkippedController {
  @Get('open')
  open(): { ok: true } {
    return { ok: true };
  }

  @Get('back')
  @SkipThrottle({ base: false })
  @Throttle({ base: { limit: 2 } })
  back(): { ok: true } {
    return { ok: true };
  }
}

@Module({})
class ThrottleTestModule {
  static register(options: {
    store: TollgateStore;
    global: boolean;
    events?: RateLimitEvent[];
  }): DynamicModule {
    return {
      module: ThrottleTestModule,
      imports: [
        TollgateModule.forRoot({
          store: options.store,
          throttle: {
            // One proxy in front: the test client writes X-Forwarded-For as that proxy would.
            trustProxy: 1,
            storeTimeout: '300ms',
            onEvent: (event) => options.events?.push(event),
            ...(options.global ? { limits: { base: { limit: 4, ttl: '10s' } } } : {}),
          },
        }),
      ],
      controllers: options.global ? [GlobalController, SkippedController] : [ThrottledController],
      providers: [
        { provide: APP_GUARD, useClass: BearerGuard },
        ...(options.global ? [{ provide: APP_GUARD, useClass: ThrottleGuard }] : []),
      ],
    };
  }
}

async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
}

/** A client address of its own per test, so tests never share a counter. */
let nextClient = 1;
const newClient = (): string => `203.0.113.${nextClient++}`;

/** A request from `client` through the one trusted proxy. */
const from = (client: string, extra: Record<string, string> = {}) => ({
  headers: { 'x-forwarded-for': client, ...extra },
});

/** Nest's exception layer writes JSON as a string, to which Express and Fastify add a charset. */
const PROBLEM_JSON = /^application\/problem\+json(; charset=utf-8)?$/;

function expectRateLimited(response: HttpResult): void {
  expect(response.status).toBe(429);
  expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(response.json()).toMatchObject({
    type: 'https://unpkg.com/tollgate/docs/problems/rate-limited.md',
    title: 'Too many requests',
    status: 429,
  });
}

describe.each(
  NEST_PLATFORMS.flatMap((platform) =>
    (['redis', 'memory'] as const).map((store) => [platform, store] as const),
  ),
)('@Throttle on Nest/%s, %s store, over HTTP', (platform: NestPlatform, storeKind) => {
  let redis: RedisServer | undefined;
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    if (storeKind === 'redis') redis = await startRedis();
    const store: TollgateStore = redis ? new RedisStore({ url: redis.url }) : new MemoryStore();
    await store.ready?.();
    app = await createNestApp(ThrottleTestModule.register({ store, global: false }), platform);
    baseUrl = await listen(app);
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('lets exactly N of N + k requests through; the rest get 429 problem+json with headers', async () => {
    const client = newClient();
    const responses: HttpResult[] = [];
    for (let i = 0; i < 8; i++)
      responses.push(await request(baseUrl, 'GET', '/t/five', from(client)));
    expect(responses.map((response) => response.status)).toEqual([
      200, 200, 200, 200, 200, 429, 429, 429,
    ]);
    const first = responses[0] as HttpResult;
    expect(first.headers.get('ratelimit-policy')).toBe('"default";q=5;w=10');
    expect(first.headers.get('ratelimit')).toBe('"default";r=4;t=10');
    expect(responses[4]?.headers.get('ratelimit')).toMatch(/^"default";r=0;t=(9|10)$/);
    for (const rejected of responses.slice(5)) {
      expectRateLimited(rejected);
      expect(rejected.headers.get('ratelimit-policy')).toBe('"default";q=5;w=10');
      expect(rejected.headers.get('ratelimit')).toMatch(/^"default";r=0;t=\d+$/);
      expect(Number(rejected.headers.get('retry-after'))).toBeLessThanOrEqual(10);
      expect(rejected.json()).toMatchObject({ limits: ['default'] });
    }
  });

  it('admits again once Retry-After has passed, never earlier than the real reset', async () => {
    const client = newClient();
    await request(baseUrl, 'GET', '/t/short', from(client));
    await request(baseUrl, 'GET', '/t/short', from(client));
    const rejected = await request(baseUrl, 'GET', '/t/short', from(client));
    expectRateLimited(rejected);
    const retryAfter = Number(rejected.headers.get('retry-after'));
    expect(retryAfter).toBeLessThanOrEqual(2);
    await sleep(retryAfter * 1000);
    expect((await request(baseUrl, 'GET', '/t/short', from(client))).status).toBe(200);
  });

  it('checks several limits together: one member per limit, and a rejection charges none', async () => {
    const client = newClient();
    const ok = await request(baseUrl, 'GET', '/t/multi', from(client));
    expect(ok.headers.get('ratelimit-policy')).toBe(
      '"burst";q=3;w=10, "daily";q=100;w=86400, "bucket";q=50;w=60',
    );
    expect(ok.headers.get('ratelimit')).toMatch(
      /^"burst";r=2;t=10, "daily";r=99;t=86400, "bucket";r=49;t=2$/,
    );
    await request(baseUrl, 'GET', '/t/multi', from(client));
    await request(baseUrl, 'GET', '/t/multi', from(client));
    for (let i = 0; i < 4; i++) {
      const rejected = await request(baseUrl, 'GET', '/t/multi', from(client));
      expectRateLimited(rejected);
      // Rejected by "burst" alone; "daily" and "bucket" keep what three admitted requests left.
      expect(rejected.headers.get('ratelimit')).toMatch(
        /^"burst";r=0;t=\d+, "daily";r=97;t=\d+, "bucket";r=47;t=\d+$/,
      );
      expect(rejected.json()).toMatchObject({ limits: ['burst'] });
    }
  });

  it('sends the headers only on 429s when the route says when-limited', async () => {
    const client = newClient();
    const ok = await request(baseUrl, 'GET', '/t/quiet', from(client));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('ratelimit')).toBeNull();
    expect(ok.headers.get('ratelimit-policy')).toBeNull();
    const rejected = await request(baseUrl, 'GET', '/t/quiet', from(client));
    expectRateLimited(rejected);
    expect(rejected.headers.get('ratelimit')).toMatch(/^"default";r=0;t=\d+$/);
  });

  it('ignores a spoofed leftmost X-Forwarded-For entry: the trusted hop decides', async () => {
    const client = newClient();
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      // A client rotating what it writes itself; the proxy appends the real address.
      const spoofed = `198.51.100.${i + 1}, ${client}`;
      statuses.push((await request(baseUrl, 'GET', '/t/five', from(spoofed))).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
  });

  it('counts an IPv6 /64 as one client and an IPv4-mapped address as its IPv4 address', async () => {
    const prefix = `2001:db8:${(nextClient++).toString(16)}:1`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push(
        (await request(baseUrl, 'GET', '/t/five', from(`${prefix}::${(i + 1).toString(16)}`)))
          .status,
      );
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    // The next /64 is somebody else.
    expect(
      (await request(baseUrl, 'GET', '/t/five', from(`2001:db8:${nextClient.toString(16)}:2::1`)))
        .status,
    ).toBe(200);

    const v4 = newClient();
    for (let i = 0; i < 3; i++) await request(baseUrl, 'GET', '/t/five', from(v4));
    for (let i = 0; i < 2; i++) {
      expect((await request(baseUrl, 'GET', '/t/five', from(`::ffff:${v4}`))).status).toBe(200);
    }
    expectRateLimited(await request(baseUrl, 'GET', '/t/five', from(`::ffff:${v4}`)));
    expectRateLimited(await request(baseUrl, 'GET', '/t/five', from(v4)));
  });

  it('counts an authenticated user apart from the address it comes from', async () => {
    const client = newClient();
    for (let i = 0; i < 5; i++) await request(baseUrl, 'GET', '/t/five', from(client));
    expectRateLimited(await request(baseUrl, 'GET', '/t/five', from(client)));
    const alice = from(client, { authorization: `Bearer alice-${randomUUID()}` });
    for (let i = 0; i < 5; i++) {
      expect((await request(baseUrl, 'GET', '/t/five', alice)).status).toBe(200);
    }
    expectRateLimited(await request(baseUrl, 'GET', '/t/five', alice));
    // The same user from another address is still the same user.
    const elsewhere = { headers: { ...alice.headers, 'x-forwarded-for': newClient() } };
    expectRateLimited(await request(baseUrl, 'GET', '/t/five', elsewhere));
  });

  it('runs the guard before @Idempotent: a 429 is never stored and never touches the key', async () => {
    const client = newClient();
    const key = randomUUID();
    const send = (idempotencyKey: string) =>
      request(baseUrl, 'POST', '/t/idem', {
        body: { n: 1 },
        headers: { 'x-forwarded-for': client, 'idempotency-key': idempotencyKey },
      });
    const first = await send(key);
    expect(first.status).toBe(201);
    // A replay still counts against the limit: it is a request like any other.
    const replay = await send(key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.headers.get('ratelimit')).toMatch(/^"default";r=0;t=\d+$/);
    const runsBefore = idempotentRuns;
    const newKey = randomUUID();
    const throttled = await send(newKey);
    expectRateLimited(throttled);
    expect(throttled.headers.get('idempotent-replayed')).toBeNull();
    const throttledReplay = await send(key);
    expectRateLimited(throttledReplay);

    await sleep(Number(throttled.headers.get('retry-after')) * 1000);
    // The key that was throttled was never taken: its first real attempt runs the handler.
    const afterReset = await send(newKey);
    expect(afterReset.status).toBe(201);
    expect(afterReset.headers.get('idempotent-replayed')).toBeNull();
    expect(idempotentRuns).toBe(runsBefore + 1);
    // And the first key still replays its 201, not a 429.
    const stillReplayed = await send(key);
    expect(stillReplayed.status).toBe(201);
    expect(stillReplayed.text).toBe(first.text);
  });

  it.runIf(storeKind === 'redis')(
    'lets at most 5 of 1000 parallel requests through a limit of 5',
    async () => {
      const client = newClient();
      const responses = await Promise.all(
        Array.from({ length: 1000 }, () => request(baseUrl, 'GET', '/t/flood', from(client))),
      );
      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(5);
      expect(statuses.filter((status) => status === 429)).toHaveLength(995);
    },
  );
});

describe('a global ThrottleGuard with module-wide limits', () => {
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    app = await createNestApp(
      ThrottleTestModule.register({ store: new MemoryStore(), global: true }),
      'express',
    );
    baseUrl = await listen(app);
  });
  afterAll(() => app?.close());

  it('applies the module limits to a route without a decorator', async () => {
    const client = newClient();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await request(baseUrl, 'GET', '/g/defaults', from(client))).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
  });

  it('counts a request once when the guard is both global and applied by @Throttle', async () => {
    const client = newClient();
    const responses: HttpResult[] = [];
    for (let i = 0; i < 4; i++)
      responses.push(await request(baseUrl, 'GET', '/g/both', from(client)));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 429]);
    // "base" is skipped on this route, so only "route" is reported.
    expect(responses[0]?.headers.get('ratelimit')).toBe('"route";r=2;t=10');
  });

  it('@SkipThrottle() turns every limit off; @SkipThrottle(name) only that one', async () => {
    const client = newClient();
    for (let i = 0; i < 10; i++) {
      const response = await request(baseUrl, 'GET', '/g/skip-all', from(client));
      expect(response.status).toBe(200);
      expect(response.headers.get('ratelimit')).toBeNull();
    }
    const kept = await request(baseUrl, 'GET', '/g/skip-base', from(client));
    expect(kept.headers.get('ratelimit-policy')).toBe('"own";q=1;w=10');
    expectRateLimited(await request(baseUrl, 'GET', '/g/skip-base', from(client)));
  });

  it("a handler's @SkipThrottle({ name: false }) overrides its controller's @SkipThrottle()", async () => {
    const client = newClient();
    for (let i = 0; i < 6; i++) {
      expect((await request(baseUrl, 'GET', '/s/open', from(client))).status).toBe(200);
    }
    // "base" is back, with the module's ttl and the handler's limit.
    const first = await request(baseUrl, 'GET', '/s/back', from(client));
    expect(first.headers.get('ratelimit-policy')).toBe('"base";q=2;w=10');
    expect((await request(baseUrl, 'GET', '/s/back', from(client))).status).toBe(200);
    expectRateLimited(await request(baseUrl, 'GET', '/s/back', from(client)));
  });
});

describe('module-wide throttle options', () => {
  it('refuses a misspelled option when the app is created, rather than ignoring it', async () => {
    @Module({ imports: [TollgateModule.forRoot({ throttle: { limt: 5 } as never })] })
    class MisspelledModule {}
    await expect(
      NestFactory.create(MisspelledModule, { logger: false, abortOnError: false }),
    ).rejects.toThrow(
      /TollgateModule\.forRoot\(\{ throttle \}\) has no option "limt" \(did you mean "limit"\?\)/,
    );
  });
});

describe('when Redis cannot be reached', () => {
  let redis: RedisServer;
  let app: INestApplication;
  let baseUrl: string;
  const events: RateLimitEvent[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const store = new RedisStore({ url: redis.url });
    await store.ready();
    app = await createNestApp(
      ThrottleTestModule.register({ store, global: false, events }),
      'express',
    );
    baseUrl = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  for (const outage of ['paused', 'killed'] as const) {
    it(`follows each limit's policy while Redis is ${outage}, and Redis again once it is back`, async () => {
      const client = newClient();
      // Use up the Redis-side quota first, so answers during the outage visibly come from elsewhere.
      expect((await request(baseUrl, 'GET', '/t/fail-allow', from(client))).status).toBe(200);
      expectRateLimited(await request(baseUrl, 'GET', '/t/fail-allow', from(client)));
      events.length = 0;
      if (outage === 'paused') redis.pause();
      else await redis.kill();
      try {
        // allow (default): passes unchecked, within the deadline, and reports it.
        const started = Date.now();
        const allowed = await request(baseUrl, 'GET', '/t/fail-allow', from(client));
        expect(allowed.status).toBe(200);
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(allowed.headers.get('ratelimit')).toBeNull();
        expect(failures(events).at(-1)).toMatchObject({ outcome: 'allowed' });

        // reject: 503 problem+json with Retry-After.
        const rejected = await request(baseUrl, 'GET', '/t/fail-reject', from(client));
        expect(rejected.status).toBe(503);
        expect(rejected.headers.get('content-type')).toMatch(PROBLEM_JSON);
        expect(rejected.headers.get('retry-after')).toBe('1');
        expect(rejected.json()).toMatchObject({
          type: 'https://unpkg.com/tollgate/docs/problems/store-unavailable.md',
          status: 503,
        });
        expect(failures(events).at(-1)).toMatchObject({ outcome: 'rejected' });

        // local: the in-process limiter counts, bounded, until Redis answers again.
        const local = [];
        for (let i = 0; i < 3; i++) {
          local.push(await request(baseUrl, 'GET', '/t/fail-local', from(client)));
        }
        expect(local.map((response) => response.status)).toEqual([200, 200, 429]);
        expect(local[1]?.headers.get('ratelimit')).toMatch(/^"default";r=0;t=60$/);
        expectRateLimited(local[2] as HttpResult);
        expect(failures(events).at(-1)).toMatchObject({ outcome: 'local' });
      } finally {
        if (outage === 'paused') redis.resume();
        else await redis.restart();
      }
      // Redis decides again: a killed server restarted empty, a paused one kept its counters.
      const deadline = Date.now() + 10_000;
      let back: HttpResult;
      do {
        back = await request(baseUrl, 'GET', '/t/fail-reject', from(newClient()));
        if (back.status === 200) break;
        await sleep(100);
      } while (Date.now() < deadline);
      expect(back.status).toBe(200);
      expect(back.headers.get('ratelimit')).toMatch(/^"default";r=0;t=60$/);
      const afterOutage = await request(baseUrl, 'GET', '/t/fail-allow', from(client));
      expect(afterOutage.status).toBe(outage === 'paused' ? 429 : 200);
    });
  }
});

describe('the sample app: GET /quotes and GET /search', () => {
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    ({ app } = await createSampleApp({ logger: false }));
    baseUrl = await listen(app);
  });
  afterAll(() => app?.close());

  it('GET /quotes answers { price } 5 times per 10 s per client, then 429', async () => {
    const user = { headers: { authorization: `Bearer quotes-${randomUUID()}` } };
    const responses: HttpResult[] = [];
    for (let i = 0; i < 6; i++) responses.push(await request(baseUrl, 'GET', '/quotes', user));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(typeof responses[0]?.json<{ price: unknown }>().price).toBe('number');
    expect(responses[0]?.headers.get('ratelimit-policy')).toBe('"default";q=5;w=10');
    expectRateLimited(responses[5] as HttpResult);
    expect(responses[5]?.headers.get('ratelimit')).toMatch(/^"default";r=0;t=\d+$/);
    // Another client has its own quota.
    const other = { headers: { authorization: `Bearer quotes-${randomUUID()}` } };
    expect((await request(baseUrl, 'GET', '/quotes', other)).status).toBe(200);
  });

  it('GET /search checks a burst and a sustained limit together', async () => {
    const user = { headers: { authorization: `Bearer search-${randomUUID()}` } };
    const responses: HttpResult[] = [];
    for (let i = 0; i < 4; i++) {
      responses.push(await request(baseUrl, 'GET', '/search?q=an', user));
    }
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 429]);
    expect(responses[0]?.json()).toEqual({ query: 'an', results: ['banana', 'mango', 'orange'] });
    expect(responses[0]?.headers.get('ratelimit-policy')).toBe(
      '"burst";q=3;w=1, "sustained";q=20;w=60',
    );
    expect(responses[3]?.headers.get('ratelimit')).toMatch(
      /^"burst";r=0;t=1, "sustained";r=17;t=60$/,
    );
  });
});

/** The store-failure events among everything the engine reported. */
function failures(events: readonly RateLimitEvent[]): RateLimitEvent[] {
  return events.filter((event) => event.type === 'store-unavailable');
}
