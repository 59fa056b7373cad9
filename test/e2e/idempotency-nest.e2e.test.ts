import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import { request, inPool } from '../helpers/http.js';
import { NEST_PLATFORMS } from '../helpers/nest-platforms.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * The Nest sample over real HTTP, on Express and on Fastify, on Redis and on the in-memory store:
 * the idempotency contract (CONTRACT.md section 1) as a client sees it.
 */
describe.each(
  NEST_PLATFORMS.flatMap((platform) =>
    (['redis', 'memory'] as const).map((store) => [platform, store] as const),
  ),
)('Nest sample on %s, %s store', (platform, storeKind) => {
  let redis: RedisServer | undefined;
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    if (storeKind === 'redis') redis = await startRedis();
    ({ app } = await createSampleApp({ redisUrl: redis?.url, logger: false, platform }));
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  const order = (key: string, body: unknown = { item: 'book', amount: 12 }, user?: string) =>
    request(baseUrl, 'POST', '/orders', {
      body,
      headers: { 'idempotency-key': key, ...(user ? { authorization: `Bearer ${user}` } : {}) },
    });
  const orderCount = async () =>
    (await request(baseUrl, 'GET', '/orders')).json<{ count: number }>().count;

  it('is served by the platform it names', async () => {
    // Express announces itself; Fastify does not: proof that the parameter reached the app.
    const response = await request(baseUrl, 'GET', '/orders');
    expect(response.headers.get('x-powered-by')).toBe(platform === 'express' ? 'Express' : null);
  });

  it('runs 100 requests with one key at a concurrency of 10 exactly once', async () => {
    const key = randomUUID();
    const before = await orderCount();
    const results = await inPool(100, 10, () =>
      order(key, { item: 'lamp', amount: 3, delayMs: 50 }),
    );
    expect((await orderCount()) - before).toBe(1);
    const successes = results.filter((result) => result.status === 201);
    expect(successes.length).toBeGreaterThanOrEqual(1);
    expect(new Set(successes.map((result) => result.text)).size).toBe(1);
    const conflicts = results.filter((result) => result.status === 409);
    expect(successes.length + conflicts.length).toBe(100);
    for (const conflict of conflicts) {
      expect(Number(conflict.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(conflict.headers.get('content-type')).toBe('application/problem+json');
    }
    // Everything but the first 201 is a replay of it.
    expect(
      successes.filter((result) => result.headers.get('idempotent-replayed') === 'true'),
    ).toHaveLength(successes.length - 1);
  });

  it('replays the same JSON body with keys in another order, and refuses a changed body with 422', async () => {
    const key = randomUUID();
    const first = await order(key, { item: 'pen', amount: 2 });
    expect(first.status).toBe(201);
    const before = await orderCount();
    const reordered = await order(key, { amount: 2, item: 'pen' });
    expect(reordered.status).toBe(201);
    expect(reordered.text).toBe(first.text);
    const changed = await order(key, { item: 'pen', amount: 3 });
    expect(changed.status).toBe(422);
    expect(changed.headers.get('content-type')).toBe('application/problem+json');
    expect(changed.json()).toMatchObject({
      status: 422,
      type: expect.stringMatching(/idempotency-key-reused\.md$/),
    });
    expect(await orderCount()).toBe(before);
  });

  it('gives two users with the same key two executions, never each other’s response', async () => {
    const key = randomUUID();
    const alice = await order(key, { item: 'tea', amount: 1 }, 'alice');
    const bob = await order(key, { item: 'tea', amount: 1 }, 'bob');
    expect(alice.status).toBe(201);
    expect(bob.status).toBe(201);
    expect(bob.json().id).not.toBe(alice.json().id);
    expect(bob.headers.get('idempotent-replayed')).toBeNull();
    expect((await order(key, { item: 'tea', amount: 1 }, 'alice')).json().id).toBe(alice.json().id);
    expect((await order(key, { item: 'tea', amount: 1 }, 'bob')).json().id).toBe(bob.json().id);
    // An anonymous client with the same key is yet another scope.
    expect(
      (await order(key, { item: 'tea', amount: 1 })).headers.get('idempotent-replayed'),
    ).toBeNull();
  });

  it('replays Location but never Set-Cookie, and marks only replays', async () => {
    const key = randomUUID();
    const first = await order(key);
    expect(first.headers.get('set-cookie')).toMatch(/^last-order=/);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const replay = await order(key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('location')).toBe(first.headers.get('location'));
    expect(replay.headers.get('set-cookie')).toBeNull();
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(replay.text).toBe(first.text);
  });

  it('releases the key after a 500, so a retry runs again', async () => {
    const key = randomUUID();
    const failed = await order(key, { item: 'x', amount: 1, fail: true });
    expect(failed.status).toBe(500);
    const before = await orderCount();
    // The same key with the same body: the failure was not stored, so this runs.
    const retried = await order(key, { item: 'x', amount: 1, fail: true });
    expect(retried.status).toBe(500);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(await orderCount()).toBe(before);
  });

  it('stores a 400 for a bad body and replays it', async () => {
    const key = randomUUID();
    const bad = await order(key, { item: '', amount: 'many' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const again = await order(key, { item: '', amount: 'many' });
    expect(again.status).toBe(400);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['too long', 'k'.repeat(256)],
    ['with a space', 'a b'],
    ['non-ASCII', 'cl\u00e9'],
  ])('answers a %s key with a 400 problem and runs nothing', async (_, key) => {
    const before = await orderCount();
    const headers: Record<string, string> = key === undefined ? {} : { 'idempotency-key': key };
    const response = await fetch(`${baseUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ item: 'a', amount: 1 }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(problem).sort()).toEqual(['detail', 'status', 'title', 'type']);
    expect(await orderCount()).toBe(before);
  });

  it('accepts the quoted structured-field form of the same key', async () => {
    const key = randomUUID();
    const first = await order(key);
    const quoted = await order(`"${key}"`);
    expect(quoted.headers.get('idempotent-replayed')).toBe('true');
    expect(quoted.text).toBe(first.text);
  });

  it('answers 409 with Retry-After while the first request still runs', async () => {
    const key = randomUUID();
    const slow = order(key, { item: 'slow', amount: 1, delayMs: 400 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const duplicate = await order(key, { item: 'slow', amount: 1, delayMs: 400 });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await slow).status).toBe(201);
  });

  it('stores the result even when the client disconnects mid-handler', async () => {
    const key = randomUUID();
    const before = await orderCount();
    const body = JSON.stringify({ item: 'gone', amount: 1, delayMs: 300 });
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${baseUrl}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      });
      req.on('error', () => resolve());
      req.end(body);
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 80);
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await orderCount()).toBe(before + 1);
    const retry = await order(key, { item: 'gone', amount: 1, delayMs: 300 });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await orderCount()).toBe(before + 1);
  });

  it('fingerprint route: identical reports run once per window, different ones run', async () => {
    const before = (await request(baseUrl, 'GET', '/reports')).json<{ count: number }>().count;
    const report = { device: randomUUID(), changes: [{ field: 'a', to: 1 }], at: 1 };
    const results = await Promise.all([
      request(baseUrl, 'POST', '/reports', { body: report }),
      request(baseUrl, 'POST', '/reports', {
        body: { at: 1, changes: [{ to: 1, field: 'a' }], device: report.device },
      }),
    ]);
    const settled = await request(baseUrl, 'POST', '/reports', { body: report });
    expect(settled.status).toBe(201);
    expect(settled.headers.get('idempotent-replayed')).toBe('true');
    expect(results.every((result) => result.status === 201 || result.status === 409)).toBe(true);
    await request(baseUrl, 'POST', '/reports', { body: { ...report, at: 2 } });
    const after = (await request(baseUrl, 'GET', '/reports')).json<{ count: number }>().count;
    expect(after - before).toBe(2);
  });

  it('lock route: duplicates get 409 until the lock expires, then run again', async () => {
    const count = async () =>
      (await request(baseUrl, 'GET', '/commands')).json<{ count: number }>().count;
    const before = await count();
    const command = { device: randomUUID(), action: 'reboot' };
    const first = await request(baseUrl, 'POST', '/commands', { body: command });
    expect(first.status).toBe(202);
    const duplicate = await request(baseUrl, 'POST', '/commands', { body: command });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get('retry-after')).toBe('2');
    expect(await count()).toBe(before + 1);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await request(baseUrl, 'POST', '/commands', { body: command })).status).toBe(202);
    expect(await count()).toBe(before + 2);
  });

  it('never takes two different text bodies for duplicates on a fingerprint route', async () => {
    const texts = [`hello ${randomUUID()}`, `hello ${randomUUID()}`];
    const responses = [];
    for (const text of texts) {
      responses.push(
        await request(baseUrl, 'POST', '/reports', {
          rawBody: text,
          headers: { 'content-type': 'text/plain' },
        }),
      );
    }
    if (platform === 'fastify') {
      // Fastify parses text/plain by default: each body is hashed as its bytes, and both run.
      expect(responses.map((response) => response.status)).toEqual([201, 201]);
      expect(responses[0]!.text).not.toBe(responses[1]!.text);
    } else {
      // Nest on Express has no text parser: the body cannot be read, so it is refused, not deduped.
      for (const response of responses) {
        expect(response.status).toBe(415);
        expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(response.json()).toMatchObject({
          type: expect.stringMatching(/body-not-readable\.md$/),
        });
      }
    }
  });

  it('never runs a hostile body twice, and answers it with a 400 rather than crashing', async () => {
    let deep = '1';
    for (let i = 0; i < 500; i++) deep = `[${deep}]`;
    const response = await request(baseUrl, 'POST', '/reports', {
      rawBody: deep,
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/problem\+json/);
    // Still serving.
    expect((await request(baseUrl, 'GET', '/reports')).status).toBe(200);
  });
});
