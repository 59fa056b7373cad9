import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { inPool, request, type HttpResult } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startSampleProcess } from '../helpers/sample-process.js';

/** A variant of the sample app, started in this process on a free port. */
export interface RunningSample {
  baseUrl: string;
  close(): Promise<void>;
}

export interface SampleVariant {
  /** Starts the app with its store connected; `redisUrl` undefined means the in-memory store. */
  start(config: { redisUrl: string | undefined }): Promise<RunningSample>;
  /** The built entry point (`node <entry>`), as `npm start` or `npm run start:<variant>` runs it. */
  entry: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const PROBLEM_FIELDS = ['detail', 'status', 'title', 'type'];

/**
 * The sample app's black-box contract (CONTRACT.md sections 1 and 3) over real HTTP. Every variant
 * of the sample (Nest, Express, ...) runs this one suite, on the in-memory store and on a real
 * redis-server, so their routes cannot drift apart.
 */
export function describeSampleContract(name: string, variant: SampleVariant): void {
  describe.each(['memory', 'redis'] as const)(`${name} sample on the %s store`, (storeKind) => {
    let redis: RedisServer | undefined;
    let sample: RunningSample;
    let baseUrl: string;

    beforeAll(async () => {
      if (storeKind === 'redis') redis = await startRedis();
      sample = await variant.start({ redisUrl: redis?.url });
      baseUrl = sample.baseUrl;
    });

    afterAll(async () => {
      await sample?.close();
      await redis?.stop();
    });

    const order = (
      key: string | undefined,
      body: unknown = { item: 'book', amount: 12 },
      user?: string,
    ): Promise<HttpResult> =>
      request(baseUrl, 'POST', '/orders', {
        body,
        headers: {
          ...(key === undefined ? {} : { 'idempotency-key': key }),
          ...(user === undefined ? {} : { authorization: `Bearer ${user}` }),
        },
      });
    const count = async (route: string): Promise<number> =>
      (await request(baseUrl, 'GET', route)).json<{ count: number }>().count;

    describe('POST /orders (key strategy, key required)', () => {
      it('creates an order: 201 { id, item, amount }, Location and Set-Cookie, not marked replayed', async () => {
        const before = await count('/orders');
        const first = await order(randomUUID(), { item: 'book', amount: 12 });
        expect(first.status).toBe(201);
        const created = first.json<{ id: string; item: string; amount: number }>();
        expect(created).toEqual({ id: expect.any(String), item: 'book', amount: 12 });
        expect(first.headers.get('location')).toBe(`/orders/${created.id}`);
        expect(first.headers.get('set-cookie')).toMatch(new RegExp(`^last-order=${created.id}`));
        expect(first.headers.get('content-type')).toMatch(/^application\/json/);
        expect(first.headers.get('idempotent-replayed')).toBeNull();
        expect(await count('/orders')).toBe(before + 1);
        const listed = (await request(baseUrl, 'GET', '/orders')).json<{ orders: unknown[] }>();
        expect(listed.orders).toContainEqual(created);
      });

      it('replays the same status, body bytes and Location, without Set-Cookie, marked replayed', async () => {
        const key = randomUUID();
        const first = await order(key);
        const before = await count('/orders');
        const replay = await order(key);
        expect(replay.status).toBe(first.status);
        expect(replay.text).toBe(first.text);
        expect(replay.headers.get('location')).toBe(first.headers.get('location'));
        expect(replay.headers.get('content-type')).toBe(first.headers.get('content-type'));
        expect(replay.headers.get('set-cookie')).toBeNull();
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
        expect(await count('/orders')).toBe(before);
      });

      it('replays a body with its keys in another order, and refuses a changed body with 422', async () => {
        const key = randomUUID();
        const first = await order(key, { item: 'pen', amount: 2, delayMs: 0 });
        const before = await count('/orders');
        const reordered = await order(key, { delayMs: 0, amount: 2, item: 'pen' });
        expect(reordered.headers.get('idempotent-replayed')).toBe('true');
        expect(reordered.text).toBe(first.text);
        const changed = await order(key, { item: 'pen', amount: 3, delayMs: 0 });
        expect(changed.status).toBe(422);
        expect(changed.headers.get('content-type')).toBe('application/problem+json');
        expect(changed.json()).toMatchObject({
          status: 422,
          type: expect.stringMatching(/\/idempotency-key-reused\.md$/),
        });
        expect(await count('/orders')).toBe(before);
      });

      it('accepts the quoted structured-field form of the same key', async () => {
        const key = randomUUID();
        const first = await order(key);
        const quoted = await order(`"${key}"`);
        expect(quoted.headers.get('idempotent-replayed')).toBe('true');
        expect(quoted.text).toBe(first.text);
      });

      it.each([
        ['missing', undefined, 'idempotency-key-missing'],
        ['empty', '', 'idempotency-key-invalid'],
        ['too long', 'k'.repeat(256), 'idempotency-key-invalid'],
        ['with a space', 'a b', 'idempotency-key-invalid'],
        ['with a tab (a control character)', 'a\tb', 'idempotency-key-invalid'],
        ['non-ASCII', 'cl\u00e9', 'idempotency-key-invalid'],
        ['an unterminated quoted', '"abc', 'idempotency-key-invalid'],
      ])('answers a %s key with a 400 problem and runs nothing', async (_, key, slug) => {
        const before = await count('/orders');
        const response = await order(key);
        expect(response.status).toBe(400);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        const problem = response.json();
        expect(Object.keys(problem).sort()).toEqual(PROBLEM_FIELDS);
        expect(problem).toMatchObject({
          status: 400,
          type: expect.stringMatching(`/${slug}\\.md$`),
        });
        expect(await count('/orders')).toBe(before);
      });

      it('accepts a key of exactly 255 characters', async () => {
        expect((await order('k'.repeat(255))).status).toBe(201);
      });

      it('never lets a control character through, even where HTTP clients refuse to send one', async () => {
        const before = await count('/orders');
        const status = await rawStatus(
          baseUrl,
          'POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
            'Idempotency-Key: a\u0001b\r\nContent-Length: 26\r\nConnection: close\r\n\r\n' +
            '{"item":"raw","amount":1}\n',
        );
        // Node's HTTP parser or Tollgate refuses it; either way nothing runs.
        expect(status).toBe(400);
        expect(await count('/orders')).toBe(before);
      });

      it('gives two users with the same key two executions, never each other’s response', async () => {
        const key = randomUUID();
        const before = await count('/orders');
        const alice = await order(key, undefined, 'alice');
        const bob = await order(key, undefined, 'bob');
        expect(bob.status).toBe(201);
        expect(bob.headers.get('idempotent-replayed')).toBeNull();
        expect(bob.json().id).not.toBe(alice.json().id);
        expect((await order(key, undefined, 'alice')).json().id).toBe(alice.json().id);
        expect((await order(key, undefined, 'bob')).json().id).toBe(bob.json().id);
        // Anonymous is a scope of its own.
        expect((await order(key)).headers.get('idempotent-replayed')).toBeNull();
        expect(await count('/orders')).toBe(before + 3);
      });

      it('answers a bad body with a 400 problem, stores it and replays it', async () => {
        const key = randomUUID();
        const bad = await order(key, { item: '', amount: 'many' });
        expect(bad.status).toBe(400);
        expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(bad.json()).toMatchObject({ status: 400 });
        const again = await order(key, { item: '', amount: 'many' });
        expect(again.status).toBe(400);
        expect(again.text).toBe(bad.text);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
      });

      it.each([
        ['not an object', [1, 2]],
        ['a delayMs out of range', { item: 'a', amount: 1, delayMs: 30_001 }],
        ['a non-boolean fail', { item: 'a', amount: 1, fail: 'yes' }],
        ['a non-finite amount', { item: 'a', amount: '1' }],
      ])('refuses a body that is %s with 400', async (_, body) => {
        expect((await order(randomUUID(), body)).status).toBe(400);
      });

      it('answers malformed JSON with a 400 problem', async () => {
        const response = await request(baseUrl, 'POST', '/orders', {
          rawBody: '{"item":',
          headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        });
        expect(response.status).toBe(400);
        expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      });

      it('releases the key after a 500, so a retry with the same key runs again', async () => {
        const key = randomUUID();
        const failed = await order(key, { item: 'x', amount: 1, fail: true });
        expect(failed.status).toBe(500);
        expect(failed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        const retried = await order(key, { item: 'x', amount: 1, fail: true });
        expect(retried.status).toBe(500);
        expect(retried.headers.get('idempotent-replayed')).toBeNull();
        // Released, not stored: the same key now runs a successful request.
        const succeeded = await order(key, { item: 'x', amount: 1 });
        expect(succeeded.status).toBe(201);
        expect(succeeded.headers.get('idempotent-replayed')).toBeNull();
      });

      it('answers 409 with Retry-After while the first request runs, then replays it', async () => {
        const key = randomUUID();
        const body = { item: 'slow', amount: 1, delayMs: 400 };
        const slow = order(key, body);
        await sleep(100);
        const duplicate = await order(key, body);
        expect(duplicate.status).toBe(409);
        expect(duplicate.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
        expect(duplicate.json()).toMatchObject({
          type: expect.stringMatching(/\/request-in-progress\.md$/),
        });
        const first = await slow;
        expect(first.status).toBe(201);
        expect((await order(key, body)).text).toBe(first.text);
      });

      it('runs 100 requests with one key at a concurrency of 10 exactly once', async () => {
        const key = randomUUID();
        const before = await count('/orders');
        const body = { item: 'lamp', amount: 3, delayMs: 50 };
        const results = await inPool(100, 10, () => order(key, body));
        expect(await count('/orders')).toBe(before + 1);
        const created = results.filter((result) => result.status === 201);
        const conflicts = results.filter((result) => result.status === 409);
        expect(created.length + conflicts.length).toBe(100);
        expect(new Set(created.map((result) => result.text)).size).toBe(1);
        const firsts = created.filter((r) => r.headers.get('idempotent-replayed') === null);
        expect(firsts).toHaveLength(1);
        for (const conflict of conflicts)
          expect(Number(conflict.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      });

      it('stores the result even when the client disconnects mid-handler', async () => {
        const key = randomUUID();
        const before = await count('/orders');
        const body = { item: 'gone', amount: 1, delayMs: 300 };
        await disconnectAfter(baseUrl, '/orders', key, body, 80);
        await expect.poll(() => count('/orders'), { timeout: 3_000 }).toBe(before + 1);
        const retry = await order(key, body);
        expect(retry.status).toBe(201);
        expect(retry.headers.get('idempotent-replayed')).toBe('true');
        expect(await count('/orders')).toBe(before + 1);
      });
    });

    describe('POST /reports (fingerprint strategy, 5 s window)', () => {
      it('runs identical reports once per window, whatever their key order; different ones run', async () => {
        const before = await count('/reports');
        const report = { device: randomUUID(), changes: [{ field: 'a', to: 1 }], at: 1 };
        const first = await request(baseUrl, 'POST', '/reports', { body: report });
        expect(first.status).toBe(201);
        expect(first.json()).toEqual({ id: expect.any(String) });
        const reordered = await request(baseUrl, 'POST', '/reports', {
          body: { at: 1, changes: [{ to: 1, field: 'a' }], device: report.device },
        });
        expect(reordered.status).toBe(201);
        expect(reordered.headers.get('idempotent-replayed')).toBe('true');
        expect(reordered.text).toBe(first.text);
        const other = await request(baseUrl, 'POST', '/reports', { body: { ...report, at: 2 } });
        expect(other.headers.get('idempotent-replayed')).toBeNull();
        expect(await count('/reports')).toBe(before + 2);
      });

      it('needs no key, and keeps users apart', async () => {
        const body = { device: randomUUID() };
        const alice = await request(baseUrl, 'POST', '/reports', {
          body,
          headers: { authorization: 'Bearer alice' },
        });
        const bob = await request(baseUrl, 'POST', '/reports', {
          body,
          headers: { authorization: 'Bearer bob' },
        });
        expect(alice.status).toBe(201);
        expect(bob.headers.get('idempotent-replayed')).toBeNull();
        expect(bob.json().id).not.toBe(alice.json().id);
      });

      it('answers a hostile, deeply nested body with a 400 problem and keeps serving', async () => {
        let deep = '1';
        for (let i = 0; i < 500; i++) deep = `[${deep}]`;
        const response = await request(baseUrl, 'POST', '/reports', {
          rawBody: deep,
          headers: { 'content-type': 'application/json' },
        });
        expect(response.status).toBe(400);
        expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect((await request(baseUrl, 'GET', '/reports')).status).toBe(200);
      });
    });

    describe('POST /commands (lock strategy, 2 s, fingerprint)', () => {
      it('answers 202, refuses duplicates with 409 and Retry-After until the lock expires', async () => {
        const before = await count('/commands');
        const command = { device: randomUUID(), action: 'reboot' };
        const first = await request(baseUrl, 'POST', '/commands', { body: command });
        expect(first.status).toBe(202);
        expect(first.json()).toEqual({ id: expect.any(String) });
        const duplicate = await request(baseUrl, 'POST', '/commands', { body: command });
        expect(duplicate.status).toBe(409);
        expect(duplicate.headers.get('retry-after')).toBe('2');
        expect(duplicate.json()).toMatchObject({
          type: expect.stringMatching(/\/duplicate-request\.md$/),
        });
        expect(await count('/commands')).toBe(before + 1);
        await sleep(2_100);
        expect((await request(baseUrl, 'POST', '/commands', { body: command })).status).toBe(202);
        expect(await count('/commands')).toBe(before + 2);
      });
    });

    describe('GET /quotes and GET /search (rate limited per client)', () => {
      const as = (user: string): Record<string, string> => ({ authorization: `Bearer ${user}` });

      it('allows 5 quotes per 10 s, then answers 429 problem+json with Retry-After', async () => {
        const user = as(randomUUID());
        const allowed: HttpResult[] = [];
        for (let i = 0; i < 5; i++)
          allowed.push(await request(baseUrl, 'GET', '/quotes', { headers: user }));
        expect(allowed.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
        expect(allowed[0]?.json()).toEqual({ price: expect.any(Number) });
        expect(allowed[0]?.headers.get('ratelimit-policy')).toBe('"default";q=5;w=10');
        expect(allowed[4]?.headers.get('ratelimit')).toMatch(/^"default";r=0;t=(9|10)$/);
        const limited = await request(baseUrl, 'GET', '/quotes', { headers: user });
        expect(limited.status).toBe(429);
        expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
        expect(limited.headers.get('ratelimit')).toMatch(/^"default";r=0;t=\d+$/);
        expect(limited.json()).toMatchObject({
          status: 429,
          type: expect.stringMatching(/\/rate-limited\.md$/),
        });
        // Another user has a quota of their own.
        expect(
          (await request(baseUrl, 'GET', '/quotes', { headers: as(randomUUID()) })).status,
        ).toBe(200);
      });

      it('checks both limits of /search at once, and a rejection uses up neither', async () => {
        const user = as(randomUUID());
        const statuses: number[] = [];
        let last: HttpResult | undefined;
        for (let i = 0; i < 4; i++) {
          last = await request(baseUrl, 'GET', '/search?q=an', { headers: user });
          statuses.push(last.status);
        }
        expect(statuses).toEqual([200, 200, 200, 429]);
        expect(last?.headers.get('ratelimit-policy')).toBe(
          '"burst";q=3;w=1, "sustained";q=20;w=60',
        );
        // "sustained" was charged by the three that passed, not by the one refused.
        expect(last?.headers.get('ratelimit')).toMatch(/"sustained";r=17;/);
        await sleep(1_100);
        const again = await request(baseUrl, 'GET', '/search?q=an', { headers: user });
        expect(again.status).toBe(200);
        expect(again.json()).toEqual({ query: 'an', results: ['banana', 'mango', 'orange'] });
      });
    });

    it('answers an unknown route with a 404 problem', async () => {
      const response = await request(baseUrl, 'GET', '/nowhere');
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ status: 404, detail: 'Cannot GET /nowhere' });
    });

    // Fastify's router refuses these itself, before any hook or Nest's exception filter runs.
    it.each([
      ['a URL that cannot be percent-decoded', '/demo/%E0%A4%A'],
      ['a route parameter longer than the router takes', `/demo/${'a'.repeat(500)}`],
    ])('answers %s with a 4xx problem', async (_, path) => {
      const response = await request(baseUrl, 'GET', path);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(Object.keys(response.json()).sort()).toEqual(PROBLEM_FIELDS);
    });

    if (storeKind === 'redis') {
      it('answers 503 within the 1 s deadline while Redis is silent, and works again after', async () => {
        const server = redis as RedisServer;
        server.pause();
        try {
          const started = Date.now();
          const response = await order(randomUUID());
          expect(response.status).toBe(503);
          expect(Date.now() - started).toBeLessThan(2_500);
          expect(response.headers.get('retry-after')).toBe('1');
          expect(response.headers.get('content-type')).toBe('application/problem+json');
          expect(response.json()).toMatchObject({
            type: expect.stringMatching(/\/store-unavailable\.md$/),
          });
          // Unprotected routes do not depend on the store.
          expect((await request(baseUrl, 'GET', '/orders')).status).toBe(200);
        } finally {
          server.resume();
        }
        await expect
          .poll(async () => (await order(randomUUID())).status, { timeout: 10_000 })
          .toBe(201);
      });
    }
  });

  describe(`${name} sample, started as its npm script starts it`, () => {
    it('says it uses the in-memory store in its first line, and serves once it says it listens', async () => {
      const sample = await startSampleProcess({ REDIS_URL: '' }, variant.entry);
      try {
        expect(sample.output().split('\n')[0]).toMatch(/store in-memory/);
        expect((await order2(sample.baseUrl)).status).toBe(201);
      } finally {
        await sample.kill('SIGTERM');
      }
    });

    it('connects to Redis before it says it listens, so the first request succeeds', async () => {
      const redis = await startRedis();
      const sample = await startSampleProcess({ REDIS_URL: redis.url }, variant.entry);
      try {
        expect(sample.output().split('\n')[0]).toMatch(/store redis/);
        expect((await order2(sample.baseUrl)).status).toBe(201);
      } finally {
        await sample.kill('SIGTERM');
        await redis.stop();
      }
    });
  });
}

function order2(baseUrl: string): Promise<HttpResult> {
  return request(baseUrl, 'POST', '/orders', {
    body: { item: 'first', amount: 1 },
    headers: { 'idempotency-key': randomUUID() },
  });
}

/** Sends a request, then drops the connection before the answer: a client that gave up. */
function disconnectAfter(
  baseUrl: string,
  path: string,
  key: string,
  body: unknown,
  ms: number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const req = httpRequest(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
    });
    req.on('error', () => resolve());
    req.on('response', () => resolve());
    req.end(JSON.stringify(body));
    setTimeout(() => {
      req.destroy();
      resolve();
    }, ms);
  });
}

/** The status of a hand-written HTTP/1.1 request, for bytes no HTTP client would send. */
function rawStatus(baseUrl: string, raw: string): Promise<number> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let reply = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1];
      if (status) resolve(Number(status));
      else reject(new Error(`no HTTP status in the reply: ${JSON.stringify(reply)}`));
    });
    socket.end(raw, 'latin1');
  });
}
