/**
 * The login brute-force recipe (docs/rate-limiting.md) in the built sample, over HTTP, on every
 * variant (Nest on Express, Nest on Fastify, plain Express) and on both stores the sample takes:
 * 5 failures per user name per 15 min, 20 per address per hour, a success resets the user's count
 * and does not count against the address. The real windows: nothing here waits for one to end.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { request, type HttpResult } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startSampleProcess, type SampleProcess } from '../helpers/sample-process.js';

const VARIANTS = [
  { name: 'Nest', entry: resolve('sample-app/dist/sample-app/src/main.js') },
  { name: 'Nest on Fastify', entry: resolve('sample-app/dist/sample-app/src/fastify/main.js') },
  { name: 'Express', entry: resolve('sample-app/dist/sample-app/src/express/main.js') },
];

describe.each(
  VARIANTS.flatMap((variant) =>
    (['memory', 'redis'] as const).map((store) => ({ ...variant, store })),
  ),
)('$name sample, $store store: POST /login', ({ entry, store }) => {
  let redis: RedisServer | undefined;
  let sample: SampleProcess;

  beforeAll(async () => {
    // A fresh store per process: every test below spends from the one address counter.
    if (store === 'redis') redis = await startRedis();
    sample = await startSampleProcess({ REDIS_URL: redis?.url ?? '' }, entry);
  });

  afterAll(async () => {
    await sample?.kill('SIGTERM');
    await redis?.stop();
  });

  const login = async (username: string, password: string): Promise<HttpResult> => {
    const response = await request(sample.baseUrl, 'POST', '/login', {
      body: { username, password },
    });
    // A success gives its units back as its response closes: leave that time to land.
    if (response.status === 200) await sleep(20);
    return response;
  };
  const wrong = (user: string): Promise<HttpResult> => login(user, 'guess');
  const right = (user: string): Promise<HttpResult> => login(user, `${user}-secret`);
  const statuses = async (times: number, attempt: () => Promise<HttpResult>) => {
    const seen: number[] = [];
    for (let i = 0; i < times; i++) seen.push((await attempt()).status);
    return seen;
  };

  // The tests run in order and share the address counter (20 failures an hour): the comments
  // keep the count.

  it('answers a body without a user name with 400 problem+json, and counts it as a failure', async () => {
    const response = await request(sample.baseUrl, 'POST', '/login', { body: { password: 1 } });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    // Address: 1 failure.
  });

  it('lets a user log in as often as it likes: successes never count against the address', async () => {
    const user = `ok-${randomUUID()}`;
    expect(await statuses(25, () => right(user))).toEqual(Array(25).fill(200));
    const response = await right(user);
    expect(response.json()).toEqual({ user });
  });

  it('refuses a user name after 5 failures, whatever the password, with 429 and Retry-After', async () => {
    const user = `locked-${randomUUID()}`;
    expect(await statuses(5, () => wrong(user))).toEqual([401, 401, 401, 401, 401]);
    const refused = await wrong(user);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ status: 429, limits: ['user'] });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(14 * 60);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    // The right password does not get through either: that is the point.
    expect((await right(user)).status).toBe(429);
    // Another user name from the same address is not affected.
    expect((await right(`other-${randomUUID()}`)).status).toBe(200);
    // Address: 8 failures so far (the 400, 5 × 401, 2 × 429).
  });

  it('resets the user count on a successful login', async () => {
    const user = `reset-${randomUUID()}`;
    expect(await statuses(4, () => wrong(user))).toEqual([401, 401, 401, 401]);
    expect((await right(user)).status).toBe(200);
    // Counting starts again: 5 more failures before the user name is refused.
    expect(await statuses(6, () => wrong(user))).toEqual([401, 401, 401, 401, 401, 429]);
    // Address: 8 + 4 + 6 = 18 failures.
  });

  it('refuses the address after 20 failures an hour, over every user name, successes included', async () => {
    expect(await statuses(2, () => wrong(`spray-${randomUUID()}`))).toEqual([401, 401]);
    // 20 failures: the address is shut out, for any user name, even with the right password.
    const refused = await wrong(`spray-${randomUUID()}`);
    expect(refused.status).toBe(429);
    expect(refused.json()).toMatchObject({ status: 429, limits: ['address'] });
    expect(refused.headers.get('ratelimit')).toMatch(/^"address";r=0;t=\d+$/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(59 * 60);
    expect((await right(`late-${randomUUID()}`)).status).toBe(429);
  });
});
