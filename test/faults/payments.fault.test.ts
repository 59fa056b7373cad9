/**
 * The sample's `POST /payments` with two app processes on one Redis and `TOLLGATE_LEASE=2s`:
 * process A reaches Redis through a fault-injecting proxy, process B directly. Through a
 * connection drop at completion, a frozen process, a killed process and a paused Redis, the
 * append-only ledger must hold exactly one payment per key: it counts every execution that wrote.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { COMPLETE } from '../../src/stores/redis/scripts.js';
import { request, type HttpResult } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startSampleProcess, type SampleProcess } from '../helpers/sample-process.js';
import { startFaultProxy, type FaultProxy } from '../helpers/tcp-proxy.js';

const VARIANTS = [
  ['Nest', resolve('sample-app/dist/sample-app/src/main.js')],
  ['Nest on Fastify', resolve('sample-app/dist/sample-app/src/fastify/main.js')],
  ['Express', resolve('sample-app/dist/sample-app/src/express/main.js')],
] as const;

const LEASE_MS = 2_000;

/** A chunk that carries the completion script, by its SHA1 or (first sent) its text. */
const isCompletion = (chunk: Buffer): boolean =>
  chunk.includes(COMPLETE.sha) || chunk.includes("'c' .. string.sub(record, 2)");

describe.each(VARIANTS)('%s sample, two processes on one Redis', (_, entry) => {
  let redis: RedisServer;
  let proxy: FaultProxy;
  let a: SampleProcess;
  let b: SampleProcess;

  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startFaultProxy({ host: redis.host, port: redis.port });
    const env = { TOLLGATE_LEASE: `${LEASE_MS}ms` };
    [a, b] = await Promise.all([
      startSampleProcess({ ...env, REDIS_URL: proxy.url }, entry),
      startSampleProcess({ ...env, REDIS_URL: redis.url }, entry),
    ]);
  });

  beforeEach(() => proxy.heal());

  afterEach(() => {
    redis.resume();
    a.resume();
  });

  afterAll(async () => {
    await Promise.all([a, b].map((sample) => sample?.kill('SIGTERM')));
    await proxy?.close();
    await redis?.stop();
  });

  const pay = (sample: SampleProcess, key: string, delayMs = 0): Promise<HttpResult> =>
    request(sample.baseUrl, 'POST', '/payments', {
      body: { amount: 42, delayMs },
      headers: { 'idempotency-key': key },
    });
  const paymentsFor = async (key: string): Promise<unknown[]> => {
    const { payments } = (await request(b.baseUrl, 'GET', '/payments')).json<{
      payments: Array<{ key: string }>;
    }>();
    return payments.filter((payment) => payment.key === key);
  };
  /** Retries with the same key, as a client would, until it gets a 201. */
  const payUntilCreated = async (sample: SampleProcess, key: string, delayMs = 0) => {
    for (let attempt = 0; attempt < 60; attempt++) {
      const response = await pay(sample, key, delayMs);
      if (response.status === 201) return response;
      expect([409, 503]).toContain(response.status);
      await sleep(100);
    }
    throw new Error('never got a 201');
  };

  it('a Redis connection drop at completion: stored once the connection is back, replayed after', async () => {
    const key = randomUUID();
    const drop = proxy.dropOnRequest(isCompletion, 700);
    const first = await pay(a, key);
    expect(first.status).toBe(201);
    // Meanwhile the other process sees the key in progress, not free.
    const during = await pay(b, key);
    expect([409, 201]).toContain(during.status);
    await drop;
    // Past the lease: the stored result, never a second payment.
    await sleep(LEASE_MS + 300);
    const retry = await payUntilCreated(b, key);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.text).toBe(first.text);
    expect(await paymentsFor(key)).toHaveLength(1);
  });

  it('one process frozen mid-handler past its lease while the other takes the key, then resumed', async () => {
    const key = randomUUID();
    const frozen = pay(a, key, 1_000);
    await sleep(300);
    a.pause();
    // A's lease runs out while it is frozen; B takes the key and pays.
    await sleep(LEASE_MS + 400);
    const taken = pay(b, key, 1_000);
    await sleep(300);
    // A wakes up before B has written: it must not write too.
    a.resume();
    const [fromA, fromB] = await Promise.all([frozen, taken]);
    expect(fromB.status).toBe(201);
    expect(fromA.status).toBe(409);
    expect(fromA.json()).toMatchObject({ type: expect.stringMatching(/lease-lost\.md$/) });
    expect(await paymentsFor(key)).toHaveLength(1);
    // The result is recorded right after B answered: a retry gets it once it is.
    const replay = await payUntilCreated(a, key, 1_000);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.text).toBe(fromB.text);
  });

  it('Redis paused during the take: 503, and the retry pays once', async () => {
    const key = randomUUID();
    redis.pause();
    const first = await pay(a, key);
    expect(first.status).toBe(503);
    redis.resume();
    const retry = await payUntilCreated(a, key);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    const again = await payUntilCreated(b, key);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await paymentsFor(key)).toHaveLength(1);
  });

  it('a process killed mid-request: the retry elsewhere pays once the lease has run out', async () => {
    const key = randomUUID();
    const killed = pay(a, key, 1_000).catch(() => undefined);
    await sleep(300);
    await a.kill('SIGKILL');
    await killed;
    const started = performance.now();
    const retry = await payUntilCreated(b, key, 1_000);
    // Not before the lease ran out: the killed request might still have been running.
    expect(performance.now() - started).toBeGreaterThan(LEASE_MS / 2);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await paymentsFor(key)).toHaveLength(1);
  });
});
