import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import { createExpressSampleApp } from '../../sample-app/src/express/create-app.js';
import {
  MemoryPaymentLedger,
  RedisPaymentLedger,
  type LedgerEntry,
  type Payment,
  type PaymentLedger,
} from '../../sample-app/src/shared/payments.js';
import { request, type HttpResult } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startSampleProcess, type SampleProcess } from '../helpers/sample-process.js';

/**
 * `POST /payments` and `GET /payments` of the sample (every variant, both stores): a handler that
 * works under its idempotency lease and writes to a ledger fenced by the lease's token.
 */

interface RunningSample {
  baseUrl: string;
  /** The app's own ledger, to plant what a newer request would have written. */
  ledger: PaymentLedger;
  close(): Promise<void>;
}

const VARIANTS = [
  {
    name: 'Nest',
    entry: resolve('sample-app/dist/sample-app/src/main.js'),
    start: (redisUrl: string | undefined) => startNest(redisUrl, 'express'),
  },
  {
    name: 'Nest on Fastify',
    entry: resolve('sample-app/dist/sample-app/src/fastify/main.js'),
    start: (redisUrl: string | undefined) => startNest(redisUrl, 'fastify'),
  },
  {
    name: 'Express',
    entry: resolve('sample-app/dist/sample-app/src/express/main.js'),
    start: startExpress,
  },
] as const;

async function startNest(
  redisUrl: string | undefined,
  platform: 'express' | 'fastify',
): Promise<RunningSample> {
  const { app, ledger } = await createSampleApp({ redisUrl, logger: false, platform });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}`, ledger, close: () => app.close() };
}

async function startExpress(redisUrl: string | undefined): Promise<RunningSample> {
  const { app, store, ledger } = await createExpressSampleApp({ redisUrl, logger: false });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    ledger,
    async close() {
      const closed = new Promise((done) => server.close(done));
      server.closeAllConnections();
      await closed;
      await store.close?.();
    },
  };
}

const pay = (
  baseUrl: string,
  key: string | undefined,
  body: unknown = { amount: 25 },
  user?: string,
): Promise<HttpResult> =>
  request(baseUrl, 'POST', '/payments', {
    body,
    headers: {
      ...(key === undefined ? {} : { 'idempotency-key': key }),
      ...(user === undefined ? {} : { authorization: `Bearer ${user}` }),
    },
  });

const ledgerOf = async (baseUrl: string): Promise<{ count: number; payments: LedgerEntry[] }> =>
  (await request(baseUrl, 'GET', '/payments')).json();

function expectProblem(response: HttpResult, status: number, slug: string): void {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(response.json()).toMatchObject({
    status,
    type: expect.stringMatching(`/${slug}(\\.md)?$`),
  });
}

describe.each(VARIANTS)('$name sample: POST /payments', (variant) => {
  describe.each(['memory', 'redis'] as const)('on the %s store', (storeKind) => {
    let redis: RedisServer | undefined;
    let sample: RunningSample;
    let baseUrl: string;

    beforeAll(async () => {
      if (storeKind === 'redis') redis = await startRedis();
      sample = await variant.start(redis?.url);
      baseUrl = sample.baseUrl;
    });

    afterAll(async () => {
      await sample?.close();
      await redis?.stop();
    });

    it('answers 201 { id, amount, fencingToken } and records one ledger entry', async () => {
      const key = randomUUID();
      const before = (await ledgerOf(baseUrl)).count;
      const response = await pay(baseUrl, key, { amount: 25 });
      expect(response.status).toBe(201);
      expect(response.headers.get('idempotent-replayed')).toBeNull();
      const payment = response.json<{ id: string; amount: number; fencingToken: number }>();
      expect(payment).toEqual({
        id: expect.stringMatching(/^pay_\d+$/),
        amount: 25,
        fencingToken: expect.any(Number),
      });
      expect(Number.isSafeInteger(payment.fencingToken)).toBe(true);
      expect(payment.fencingToken).toBeGreaterThan(0);
      const ledger = await ledgerOf(baseUrl);
      expect(ledger.count).toBe(before + 1);
      expect(ledger.payments.at(-1)).toEqual({ ...payment, key });
    });

    it('replays the same body, marked replayed, for the same key, and records nothing more', async () => {
      const key = randomUUID();
      const first = await pay(baseUrl, key);
      const before = (await ledgerOf(baseUrl)).count;
      const replay = await pay(baseUrl, key);
      expect(replay.status).toBe(201);
      expect(replay.text).toBe(first.text);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect((await ledgerOf(baseUrl)).count).toBe(before);
    });

    it('records a second entry, with another id, for another key', async () => {
      const before = (await ledgerOf(baseUrl)).count;
      const first = (await pay(baseUrl, randomUUID())).json();
      const second = (await pay(baseUrl, randomUUID())).json();
      expect(second.id).not.toBe(first.id);
      const ledger = await ledgerOf(baseUrl);
      expect(ledger.count).toBe(before + 2);
      expect(ledger.payments.slice(-2).map((entry) => entry.id)).toEqual([first.id, second.id]);
    });

    it('gives two users with the same key two entries', async () => {
      const key = randomUUID();
      const before = (await ledgerOf(baseUrl)).count;
      const alice = await pay(baseUrl, key, undefined, 'alice');
      const bob = await pay(baseUrl, key, undefined, 'bob');
      expect([alice.status, bob.status]).toEqual([201, 201]);
      expect(bob.json().id).not.toBe(alice.json().id);
      const ledger = await ledgerOf(baseUrl);
      expect(ledger.count).toBe(before + 2);
      expect(ledger.payments.slice(-2).map((entry) => entry.user)).toEqual(['alice', 'bob']);
    });

    it('answers a duplicate 409 in progress while the first waits, then replays it', async () => {
      const key = randomUUID();
      const body = { amount: 7, delayMs: 200 };
      const slow = pay(baseUrl, key, body);
      await sleep(60);
      const duplicate = await pay(baseUrl, key, body);
      expectProblem(duplicate, 409, 'request-in-progress');
      expect(duplicate.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      const first = await slow;
      expect(first.status).toBe(201);
      expect((await pay(baseUrl, key, body)).text).toBe(first.text);
    });

    it('answers a missing Idempotency-Key with a 400 problem and records nothing', async () => {
      const before = (await ledgerOf(baseUrl)).count;
      expectProblem(await pay(baseUrl, undefined), 400, 'idempotency-key-missing');
      expect((await ledgerOf(baseUrl)).count).toBe(before);
    });

    it.each([
      ['not an object', [25]],
      ['without an amount', { delayMs: 0 }],
      ['with a string amount', { amount: '25' }],
      ['with a fractional delayMs', { amount: 1, delayMs: 1.5 }],
      ['with a delayMs out of range', { amount: 1, delayMs: 30_001 }],
    ])('answers a body %s with a 400 problem and records nothing', async (_, body) => {
      const before = (await ledgerOf(baseUrl)).count;
      expectProblem(await pay(baseUrl, randomUUID(), body), 400, 'invalid-request');
      expect((await ledgerOf(baseUrl)).count).toBe(before);
    });

    it('answers 409 lease-lost when the ledger has seen a higher token for the key', async () => {
      const key = randomUUID();
      // What a request that took over the key (a higher token) would have written first.
      const newer = { key, user: undefined, fencingToken: Number.MAX_SAFE_INTEGER, amount: 1 };
      const planted = await sample.ledger.record(newer);
      const response = await pay(baseUrl, key, { amount: 99 });
      expectProblem(response, 409, 'lease-lost');
      expect(response.headers.get('retry-after')).toBe('1');
      expect(Object.keys(response.json()).sort()).toEqual(['detail', 'status', 'title', 'type']);
      // Refused, so untouched; and a 409 is never stored for replay.
      const ledger = await ledgerOf(baseUrl);
      expect(ledger.payments.filter((entry) => entry.key === key)).toEqual([planted]);
      expect(
        (await pay(baseUrl, key, { amount: 99 })).headers.get('idempotent-replayed'),
      ).toBeNull();
    });
  });
});

describe('GET /payments across sample processes on one Redis', () => {
  let redis: RedisServer;
  let processes: SampleProcess[];

  beforeAll(async () => {
    redis = await startRedis();
    // One process of each variant; a short lease, so that a stalled process loses it quickly.
    const env = { REDIS_URL: redis.url, TOLLGATE_LEASE: '1s' };
    processes = await Promise.all(
      VARIANTS.map((variant) => startSampleProcess(env, variant.entry)),
    );
  });

  afterAll(async () => {
    await Promise.all((processes ?? []).map((sample) => sample.kill('SIGTERM')));
    await redis?.stop();
  });

  it('lists the payments every process recorded, in the order they were made', async () => {
    const created: LedgerEntry[] = [];
    for (const sample of processes) {
      const key = randomUUID();
      const response = await pay(sample.baseUrl, key, { amount: created.length + 1 });
      expect(response.status).toBe(201);
      created.push({ ...response.json<Payment>(), key });
    }
    // A retry that reaches another process is replayed, never paid again.
    const retry = await pay(processes[2]!.baseUrl, created[0]!.key, { amount: 1 });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');

    for (const sample of processes) {
      const ledger = await ledgerOf(sample.baseUrl);
      expect(ledger).toEqual({ count: 3, payments: created });
    }
    expect(new Set(created.map((entry) => entry.id)).size).toBe(3);
  });

  it('answers 409 lease-lost to a process stalled past its lease, which writes nothing', async () => {
    const [nest, , express] = processes as [SampleProcess, SampleProcess, SampleProcess];
    const key = randomUUID();
    const body = { amount: 50, delayMs: 600 };
    const before = (await ledgerOf(nest.baseUrl)).count;
    const stalled = pay(express.baseUrl, key, body);
    await sleep(100);
    // Once the Express process holds the key, it stops (a GC pause, a frozen VM) past the lease.
    expectProblem(await pay(nest.baseUrl, key, body), 409, 'request-in-progress');
    express.pause();
    await sleep(1_200);
    express.resume();

    const response = await stalled;
    expectProblem(response, 409, 'lease-lost');
    expect(response.headers.get('retry-after')).toBe('1');
    expect((await ledgerOf(nest.baseUrl)).count).toBe(before);
    // The retry runs, once, wherever it lands.
    const retry = await pay(nest.baseUrl, key, body);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect((await ledgerOf(express.baseUrl)).count).toBe(before + 1);
  });
});

describe.each(['memory', 'redis'] as const)('the payment ledger on %s', (kind) => {
  let redis: RedisServer | undefined;
  const clients: Redis[] = [];
  /** A ledger; on Redis, one more connection to the same (shared) ledger. */
  const open = (): PaymentLedger => {
    if (!redis) return new MemoryPaymentLedger();
    const client = new Redis(redis.url);
    clients.push(client);
    return new RedisPaymentLedger(client);
  };
  let ledger: PaymentLedger;

  beforeAll(async () => {
    if (kind === 'redis') redis = await startRedis();
  });

  beforeEach(async () => {
    ledger = open();
    // Every test starts from an empty ledger.
    await clients[0]?.flushall();
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await redis?.stop();
  });

  const write = (key: string, fencingToken: number, amount: number, user?: string) =>
    ledger.record({ key, user, fencingToken, amount });

  it('refuses a write with a lower token than the last seen, and changes nothing', async () => {
    const key = randomUUID();
    const written = await write(key, 5, 10);
    expect(await write(key, 3, 20)).toBeUndefined();
    expect(await ledger.list()).toEqual({ count: 1, payments: [written] });
    // The token remembered is still 5, not 3.
    expect(await write(key, 4, 20)).toBeUndefined();
    expect(await ledger.list()).toEqual({ count: 1, payments: [written] });
  });

  it('appends a write with a higher token as a payment of its own: every execution that wrote shows', async () => {
    const key = randomUUID();
    const older = await write(key, 5, 10);
    const newer = await write(key, 6, 20);
    expect(newer).toEqual({ id: expect.any(String), key, amount: 20, fencingToken: 6 });
    expect(newer?.id).not.toBe(older?.id);
    expect(await ledger.list()).toEqual({ count: 2, payments: [older, newer] });
    expect(await write(key, 5, 30)).toBeUndefined();
  });

  it('accepts the same token again: only a lower one is stale', async () => {
    const key = randomUUID();
    await write(key, 7, 10);
    expect(await write(key, 7, 10)).toBeDefined();
    expect((await ledger.list()).count).toBe(2);
  });

  it('keeps the keys of different users apart, each with its own tokens', async () => {
    const alice = await write('k', 100, 1, 'alice');
    const bob = await write('k', 1, 2, 'bob');
    expect(bob).toEqual({
      id: expect.any(String),
      key: 'k',
      user: 'bob',
      amount: 2,
      fencingToken: 1,
    });
    expect((await ledger.list()).payments).toEqual([alice, bob]);
  });

  it('keeps tokens and amounts exact, a 16-digit token as Redis issues them included', async () => {
    const token = 1_723_456_789_012_345;
    const entry = await write(randomUUID(), token, 0.1 + 0.2);
    expect((await ledger.list()).payments).toEqual([entry]);
    expect(entry).toMatchObject({ fencingToken: token, amount: 0.1 + 0.2 });
    expect(await write(entry!.key, token - 1, 1)).toBeUndefined();
  });

  if (kind === 'redis') {
    it('is one ledger for every connection: shared ids, and never a stale write under races', async () => {
      const [a, b] = [ledger, open()];
      const key = randomUUID();
      const tokens = Array.from({ length: 40 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
      await Promise.all(
        tokens.map((token, i) =>
          (i % 2 ? a : b).record({ key, user: undefined, fencingToken: token, amount: token }),
        ),
      );
      const other = await b.record({
        key: randomUUID(),
        user: undefined,
        fencingToken: 1,
        amount: 0,
      });
      const { payments } = await a.list();
      const mine = payments.filter((entry) => entry.key === key).map((entry) => entry.fencingToken);
      // Each accepted write had a token at least as high as every one accepted before it.
      expect(mine).toEqual([...mine].sort((x, y) => x - y));
      expect(mine.at(-1)).toBe(40);
      expect(payments.at(-1)).toEqual(other);
      expect(new Set(payments.map((entry) => entry.id)).size).toBe(payments.length);
    });
  }
});
