import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import { request } from '../helpers/http.js';
import { roundTrips, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startSampleProcess } from '../helpers/sample-process.js';

const order = (baseUrl: string, key: string, body: unknown = { item: 'book', amount: 1 }) =>
  request(baseUrl, 'POST', '/orders', { body, headers: { 'idempotency-key': key } });

describe('Nest sample when Redis fails', () => {
  let redis: RedisServer;
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    redis = await startRedis();
    ({ app } = await createSampleApp({ redisUrl: redis.url, logger: false }));
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('costs at most 2 round trips to Redis for a first execution and 1 for a replay', async () => {
    const key = randomUUID();
    await order(baseUrl, key); // loads the scripts, so EVAL fallbacks do not count below
    const first = await roundTrips(redis.url, () => order(baseUrl, randomUUID()));
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThanOrEqual(2);
    let replay: Awaited<ReturnType<typeof order>> | undefined;
    const replayTrips = await roundTrips(redis.url, async () => {
      replay = await order(baseUrl, key);
    });
    expect(replay?.headers.get('idempotent-replayed')).toBe('true');
    expect(replayTrips).toEqual([expect.stringMatching(/^eval(sha)?$/)]);
  });

  it('answers 503 within the deadline while Redis is silent, and works again once it answers', async () => {
    redis.pause();
    try {
      const started = Date.now();
      const response = await order(baseUrl, randomUUID());
      const elapsed = Date.now() - started;
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.json()).toMatchObject({
        type: expect.stringMatching(/store-unavailable\.md$/),
      });
      // The deadline is 1 s; allow for a loaded machine, but never a hang.
      expect(elapsed).toBeLessThan(2_500);
    } finally {
      redis.resume();
    }
    await expect
      .poll(async () => (await order(baseUrl, randomUUID())).status, { timeout: 10_000 })
      .toBe(201);
  });

  it('does not leave a key blocked after a 503: a retry with the same key runs once Redis answers', async () => {
    const key = randomUUID();
    redis.pause();
    try {
      expect((await order(baseUrl, key)).status).toBe(503);
    } finally {
      redis.resume();
    }
    // The begin that Redis ran late took a lease; the release queued behind it gave it back.
    await expect.poll(async () => (await order(baseUrl, key)).status, { timeout: 5_000 }).toBe(201);
  });

  it('answers 503 while Redis is down, and works again once it is back', async () => {
    await redis.kill();
    try {
      const started = Date.now();
      const response = await order(baseUrl, randomUUID());
      expect(response.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2_500);
    } finally {
      await redis.restart();
    }
    await expect
      .poll(async () => (await order(baseUrl, randomUUID())).status, { timeout: 15_000 })
      .toBe(201);
  });
});

describe('a process that dies holding the lease', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('blocks retries only until the lease expires, not for the retention time', async () => {
    const env = { REDIS_URL: redis.url, TOLLGATE_LEASE: '3s' };
    // Both processes start first, so how long a start takes on a busy machine never eats into
    // the lease the survivor must see held.
    const [crashing, survivor] = await Promise.all([
      startSampleProcess(env),
      startSampleProcess(env),
    ]);
    const key = randomUUID();
    const body = { item: 'crash', amount: 1, delayMs: 1_000 };
    const pending = order(crashing.baseUrl, key, body).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await crashing.kill('SIGKILL');
    await pending;
    const killedAt = Date.now();

    try {
      expect(Date.now() - killedAt).toBeLessThan(2_500);
      const blocked = await order(survivor.baseUrl, key, body);
      expect(blocked.status).toBe(409);
      expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(3);
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, killedAt + 3_300 - Date.now())),
      );
      const retried = await order(survivor.baseUrl, key, body);
      expect(retried.status).toBe(201);
      expect(retried.headers.get('idempotent-replayed')).toBeNull();
    } finally {
      await survivor.kill('SIGTERM');
    }
  });
});

describe('the built sample, as `npm start` runs it', () => {
  it('says it uses the in-memory store without REDIS_URL, then serves once it says it listens', async () => {
    const env: Record<string, string> = { REDIS_URL: '' };
    const sample = await startSampleProcess(env);
    try {
      expect(sample.output().split('\n')[0]).toMatch(/in-memory/);
      const response = await order(sample.baseUrl, randomUUID());
      expect(response.status).toBe(201);
    } finally {
      await sample.kill('SIGTERM');
    }
  });

  it('connects to Redis before it says it listens, so the first request succeeds', async () => {
    const redis = await startRedis();
    const sample = await startSampleProcess({ REDIS_URL: redis.url });
    try {
      expect(sample.output().split('\n')[0]).toMatch(/redis/);
      expect((await order(sample.baseUrl, randomUUID())).status).toBe(201);
    } finally {
      await sample.kill('SIGTERM');
      await redis.stop();
    }
  });
});
