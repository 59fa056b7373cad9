import { randomUUID } from 'node:crypto';

import express, { type Request, type RequestHandler } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  idempotent,
  throttle,
  type ExpressRequestLike,
  type ThrottleMiddlewareOptions,
} from '../../src/express.js';
import { MemoryStore, TollgateConfigError, type TollgateStore } from '../../src/index.js';
import { request, type HttpResult } from '../helpers/http.js';
import { serveExpressApp, type ServedExpressApp } from '../helpers/express-server.js';
import type { RedisServer } from '../helpers/redis-server.js';

/** `Authorization: Bearer <name>` makes `<name>` the user, as in the sample. */
const demoAuth: RequestHandler = (req, _res, next) => {
  const match = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
  if (match) (req as Request & { user?: { id: string } }).user = { id: match[1] as string };
  next();
};

function buildApp(store: TollgateStore): { app: express.Express; runs: Map<string, number> } {
  const runs = new Map<string, number>();
  const ran = (name: string): number => {
    const n = (runs.get(name) ?? 0) + 1;
    runs.set(name, n);
    return n;
  };
  const limit = <Req extends ExpressRequestLike = ExpressRequestLike>(
    options: Omit<ThrottleMiddlewareOptions<Req>, 'store'>,
  ) => throttle<Req>({ store, onEvent: () => undefined, ...options });

  const app = express();
  app.use(express.json());
  app.use(demoAuth);

  app.get('/burst', limit({ limits: { burst: { limit: 3, ttl: '10s' } } }), (_req, res) => {
    res.json({ run: ran('burst') });
  });
  app.get(
    '/pair',
    limit({ limits: { short: { limit: 2, ttl: '10s' }, long: { limit: 5, ttl: '1m' } } }),
    (_req, res) => {
      res.json({ run: ran('pair') });
    },
  );
  app.get(
    '/proxied',
    limit({ limits: { burst: { limit: 1, ttl: '10s' } }, trustProxy: 1 }),
    (_req, res) => {
      res.json({ run: ran('proxied') });
    },
  );
  app.get('/direct', limit({ limits: { burst: { limit: 1, ttl: '10s' } } }), (_req, res) => {
    res.json({ run: ran('direct') });
  });
  app.get(
    '/by-api-key',
    limit({
      limits: { burst: { limit: 1, ttl: '10s' } },
      tracker: (request) => {
        const key = request.header('x-api-key');
        return typeof key === 'string' ? key : undefined;
      },
    }),
    (_req, res) => {
      res.json({ run: ran('by-api-key') });
    },
  );
  app.get(
    '/quiet',
    limit({ limits: { burst: { limit: 1, ttl: '10s' } }, headers: 'when-limited' }),
    (_req, res) => {
      res.json({ run: ran('quiet') });
    },
  );
  app.get(
    '/strict',
    limit({
      limits: { burst: { limit: 100, ttl: '10s', onStoreUnavailable: 'reject' } },
      storeTimeout: '300ms',
    }),
    (_req, res) => {
      res.json({ run: ran('strict') });
    },
  );
  app.get(
    '/lenient',
    limit({ limits: { burst: { limit: 100, ttl: '10s' } }, storeTimeout: '300ms' }),
    (_req, res) => {
      res.json({ run: ran('lenient') });
    },
  );
  // Throttle before idempotent: a 429 never reaches the idempotency key.
  app.post(
    '/orders',
    limit({ limits: { burst: { limit: 1, ttl: '1s' } }, key: () => 'orders' }),
    idempotent({ store, onEvent: () => undefined }),
    (_req, res) => {
      res.status(201).json({ run: ran('orders') });
    },
  );

  // One counter for everything below the mount, plus a route's own limit on top.
  app.use('/api', limit({ limits: { api: { limit: 4, ttl: '10s' } } }));
  app.get('/api/a/:id', (_req, res) => {
    res.json({ run: ran('api') });
  });
  app.get('/api/b', limit({ limits: { b: { limit: 1, ttl: '10s' } } }), (_req, res) => {
    res.json({ run: ran('api') });
  });
  return { app, runs };
}

describe.each(['memory', 'redis'] as const)('throttle() on Express 5, %s store', (storeKind) => {
  let served: ServedExpressApp | undefined;
  let redis: RedisServer | undefined;
  let baseUrl: string;
  let runs: Map<string, number>;

  beforeAll(async () => {
    served = await serveExpressApp(storeKind, buildApp);
    ({ redis, baseUrl, runs } = served);
  });

  afterAll(async () => {
    await served?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}): Promise<HttpResult> =>
    request(baseUrl, 'GET', path, { headers });
  const runsOf = (name: string): number => runs.get(name) ?? 0;

  it('allows the limit, then answers 429 problem+json with Retry-After and RateLimit headers', async () => {
    const user = { authorization: `Bearer ${randomUUID()}` };
    const allowed = [
      await get('/burst', user),
      await get('/burst', user),
      await get('/burst', user),
    ];
    expect(allowed.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(allowed[0]?.headers.get('ratelimit-policy')).toBe('"burst";q=3;w=10');
    expect(allowed.map((r) => r.headers.get('ratelimit'))).toEqual([
      '"burst";r=2;t=10',
      '"burst";r=1;t=10',
      '"burst";r=0;t=10',
    ]);
    const before = runsOf('burst');
    const limited = await get('/burst', user);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
    expect(limited.headers.get('ratelimit-policy')).toBe('"burst";q=3;w=10');
    expect(limited.headers.get('ratelimit')).toMatch(/^"burst";r=0;t=\d+$/);
    expect(limited.json()).toMatchObject({
      status: 429,
      type: expect.stringMatching(/\/rate-limited\.md$/),
      limits: ['burst'],
    });
    expect(runsOf('burst')).toBe(before);
  });

  it('counts HEAD against the GET route, which Express answers with the same handler', async () => {
    const user = { authorization: `Bearer ${randomUUID()}` };
    const head = (): Promise<HttpResult> => request(baseUrl, 'HEAD', '/burst', { headers: user });
    const statuses = [
      (await head()).status,
      (await get('/burst', user)).status,
      (await head()).status,
      (await get('/burst', user)).status,
      (await head()).status,
    ];
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  it('checks named limits together: a rejected request consumes from none of them', async () => {
    const user = { authorization: `Bearer ${randomUUID()}` };
    await get('/pair', user);
    await get('/pair', user);
    const limited = await get('/pair', user);
    expect(limited.status).toBe(429);
    expect(limited.json()).toMatchObject({ limits: ['short'] });
    // "long" was charged twice, not three times.
    expect(limited.headers.get('ratelimit')).toMatch(/"long";r=3;/);
  });

  it('counts each user apart, and anonymous clients by address', async () => {
    const alice = { authorization: `Bearer ${randomUUID()}` };
    const bob = { authorization: `Bearer ${randomUUID()}` };
    expect((await get('/direct', alice)).status).toBe(200);
    expect((await get('/direct', alice)).status).toBe(429);
    expect((await get('/direct', bob)).status).toBe(200);
    expect((await get('/direct')).status).toBe(200);
    expect((await get('/direct')).status).toBe(429);
  });

  it('ignores X-Forwarded-For without trusted proxies, so a client cannot forge its way out', async () => {
    // Spend the anonymous address's one request (if an earlier test has not), then try to forge.
    await get('/direct');
    const forged = await get('/direct', { 'x-forwarded-for': '203.0.113.7' });
    expect(forged.status).toBe(429);
  });

  it('with one trusted proxy, counts the address the proxy saw, never the leftmost entry', async () => {
    const first = await get('/proxied', { 'x-forwarded-for': '198.51.100.1' });
    expect(first.status).toBe(200);
    // A forged entry to the left of the proxy's does not make a new client.
    const forged = await get('/proxied', { 'x-forwarded-for': '10.9.9.9, 198.51.100.1' });
    expect(forged.status).toBe(429);
    expect((await get('/proxied', { 'x-forwarded-for': '198.51.100.2' })).status).toBe(200);
  });

  it('counts by a custom tracker when it answers', async () => {
    const key = randomUUID();
    expect((await get('/by-api-key', { 'x-api-key': key })).status).toBe(200);
    expect((await get('/by-api-key', { 'x-api-key': key })).status).toBe(429);
    expect((await get('/by-api-key', { 'x-api-key': randomUUID() })).status).toBe(200);
  });

  it("headers: 'when-limited' sends the rate-limit headers on 429s only", async () => {
    const user = { authorization: `Bearer ${randomUUID()}` };
    const allowed = await get('/quiet', user);
    expect(allowed.headers.get('ratelimit')).toBeNull();
    expect(allowed.headers.get('ratelimit-policy')).toBeNull();
    const limited = await get('/quiet', user);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('ratelimit')).not.toBeNull();
  });

  it('mounted with app.use: every path below shares one counter; a route limit adds to it', async () => {
    const user = { authorization: `Bearer ${randomUUID()}` };
    expect((await get('/api/a/1', user)).status).toBe(200);
    expect((await get('/api/a/2', user)).status).toBe(200);
    expect((await get('/api/b', user)).status).toBe(200);
    // /api/b's own limit of 1 is spent; the app-wide one still has 1 left, and a rejection
    // by the route's limit has already been charged to the app-wide one (it ran first).
    expect((await get('/api/b', user)).status).toBe(429);
    expect((await get('/api/a/3', user)).status).toBe(429);
  });

  it('mounted with app.use: the one counter is shared by every method too', async () => {
    const user = { authorization: `Bearer ${randomUUID()}` };
    for (let i = 0; i < 4; i++) expect((await get(`/api/a/${i}`, user)).status).toBe(200);
    // The app-wide limit is spent: another method must not open a fresh counter below the mount
    // (Node accepts some thirty methods, each of which would otherwise bring its own quota).
    for (const method of ['POST', 'PUT', 'DELETE', 'PROPFIND']) {
      const other = await request(baseUrl, method, '/api/a/1', { headers: user });
      expect(other.status, method).toBe(429);
    }
  });

  it('throttled before idempotent(): a 429 never stores or locks the idempotency key', async () => {
    const key = randomUUID();
    const post = () =>
      request(baseUrl, 'POST', '/orders', {
        body: { a: 1 },
        headers: { 'idempotency-key': key },
      });
    await request(baseUrl, 'POST', '/orders', {
      body: { a: 1 },
      headers: { 'idempotency-key': randomUUID() },
    });
    expect((await post()).status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const ran = await post();
    expect(ran.status).toBe(201);
    expect(ran.headers.get('idempotent-replayed')).toBeNull();
  });

  if (storeKind === 'redis') {
    it('store silent: passes by default, answers 503 where a limit says reject', async () => {
      const server = redis as RedisServer;
      server.pause();
      try {
        const started = Date.now();
        const lenient = await get('/lenient');
        expect(lenient.status).toBe(200);
        const strict = await get('/strict');
        expect(strict.status).toBe(503);
        expect(strict.headers.get('retry-after')).toBe('1');
        expect(strict.headers.get('content-type')).toBe('application/problem+json');
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        server.resume();
      }
      await expect.poll(async () => (await get('/strict')).status, { timeout: 10_000 }).toBe(200);
    });
  }
});

describe('throttle() configuration', () => {
  it('fails at start-up, naming the option, rather than on the first request', () => {
    expect(() => throttle({ limits: { burst: { limit: 0, ttl: '1s' } } })).toThrow(
      TollgateConfigError,
    );
    expect(() => throttle({ limits: { burst: { limit: 1, ttl: 'soon' as '1s' } } })).toThrow(
      /ttl of limit "burst"/,
    );
    expect(() => throttle({ limits: { 'bad name': { limit: 1, ttl: '1s' } } })).toThrow(
      /limit name/,
    );
    expect(() => throttle({ limits: {}, trustProxy: true as unknown as number })).toThrow(
      /trustProxy/,
    );
  });

  it('refuses a misspelled option at start-up rather than ignoring it', () => {
    expect(() =>
      throttle({ limits: { burst: { limit: 1, ttl: '1s' } }, windw: '1m' } as never),
    ).toThrow(/TOLLGATE_INVALID_LIMITS/);
    expect(() => throttle({ limt: 5 } as never)).toThrow(
      /throttle\(options\) has no option "limt" \(did you mean "limit"\?\): a limit's fields go inside a named limit/,
    );
  });

  it('refuses a store that cannot rate limit', () => {
    const store = new MemoryStore() as TollgateStore;
    const withoutConsume = Object.assign(Object.create(store) as TollgateStore, {
      consume: undefined,
    });
    expect(() =>
      throttle({ store: withoutConsume, limits: { burst: { limit: 1, ttl: '1s' } } }),
    ).toThrow(/cannot rate limit/);
  });
});
