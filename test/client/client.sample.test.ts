/**
 * tollgate/client against the real sample server (the built Nest sample, as its own process, on a
 * real Redis): every retry rule meets the responses that cause it, and the ledger (`GET
 * /payments`) counts what really ran.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  idempotentFetch,
  IdempotentFetchError,
  type AttemptReport,
  type FetchLike,
  type IdempotentRequestInit,
} from '../../src/client.js';
import type { LedgerEntry } from '../../sample-app/src/shared/payments.js';
import { findFreePort, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startSampleProcess, type SampleProcess } from '../helpers/sample-process.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let redis: RedisServer;
let sample: SampleProcess;

beforeAll(async () => {
  redis = await startRedis();
  // A short lease, so the frozen-server test sees another process take over within the test.
  sample = await startSampleProcess({ REDIS_URL: redis.url, TOLLGATE_LEASE: '2s' });
}, 60_000);

afterAll(async () => {
  await sample?.kill('SIGTERM');
  await redis?.stop();
});

/** Every request the client sent, as the server got it. */
interface Sent {
  key: string | null;
  body: string;
}

/** The global fetch, recording what is sent; `lose` responses are lost after the server handled them. */
function recording(lose = 0): { fetch: FetchLike; sent: Sent[] } {
  const sent: Sent[] = [];
  let lost = 0;
  return {
    sent,
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      sent.push({ key: headers.get('idempotency-key'), body: String(init?.body) });
      const response = await fetch(input, init);
      if (lost >= lose) return response;
      lost += 1;
      await response.body?.cancel();
      throw new TypeError(`lost the ${response.status} response`);
    },
  };
}

const pay = (init: IdempotentRequestInit & { amount?: number; delayMs?: number } = {}) => {
  const { amount = 25, delayMs = 0, ...rest } = init;
  return idempotentFetch(`${sample.baseUrl}/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ amount, delayMs }),
    ...rest,
  });
};

async function paymentsFor(key: string): Promise<LedgerEntry[]> {
  const response = await fetch(`${sample.baseUrl}/payments`);
  const { payments } = (await response.json()) as { payments: LedgerEntry[] };
  return payments.filter((entry) => entry.key === key);
}

describe('tollgate/client against the sample', () => {
  it('pays once with a new UUID key, and the same key again is a replay', async () => {
    const { fetch, sent } = recording();
    const first = await pay({ fetch });
    expect(first.response.status).toBe(201);
    expect([first.attempts, first.replayed]).toEqual([1, false]);
    expect(first.key).toMatch(UUID);
    expect(sent.map((request) => request.key)).toEqual([first.key]);
    const payment = (await first.response.json()) as { id: string };

    const again = await pay({ idempotencyKey: first.key });
    expect([again.response.status, again.attempts, again.replayed]).toEqual([201, 1, true]);
    expect(((await again.response.json()) as { id: string }).id).toBe(payment.id);
    expect(await paymentsFor(first.key)).toHaveLength(1);
  });

  it('gets the payment it lost the answer to, without paying twice: same key, replayed', async () => {
    const { fetch, sent } = recording(2);
    const { response, attempts, replayed, key } = await pay({ fetch, baseDelayMs: 20 });
    expect([response.status, attempts, replayed]).toEqual([201, 3, true]);
    expect(sent.map((request) => request.key)).toEqual([key, key, key]);
    expect(new Set(sent.map((request) => request.body)).size).toBe(1);
    expect(await paymentsFor(key)).toHaveLength(1);
  });

  it('retries 409 request-in-progress after its Retry-After: five concurrent calls, one payment', async () => {
    const key = crypto.randomUUID();
    const reports: AttemptReport[] = [];
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        pay({
          idempotencyKey: key,
          delayMs: 300,
          onAttempt: (report) => reports.push(report),
        }),
      ),
    );
    expect(results.map((result) => result.response.status)).toEqual([201, 201, 201, 201, 201]);
    expect(results.filter((result) => !result.replayed)).toHaveLength(1);
    const ids = await Promise.all(
      results.map(async (result) => ((await result.response.json()) as { id: string }).id),
    );
    expect(new Set(ids).size).toBe(1);
    // The duplicates were told "in progress, Retry-After: 1" and waited that long, no less.
    const conflicts = reports.filter((report) => report.status === 409);
    expect(conflicts.length).toBeGreaterThanOrEqual(4);
    for (const report of conflicts) expect(report.retryInMs).toBeGreaterThanOrEqual(1_000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(await paymentsFor(key)).toHaveLength(1);
  });

  it('returns the 409 when its Retry-After is longer than maxDelayMs', async () => {
    const key = crypto.randomUUID();
    const first = pay({ idempotencyKey: key, delayMs: 300 });
    await sleep(100);
    const { fetch, sent } = recording();
    const duplicate = await pay({ idempotencyKey: key, delayMs: 300, fetch, maxDelayMs: 500 });
    expect([duplicate.response.status, duplicate.attempts, sent.length]).toEqual([409, 1, 1]);
    expect(await duplicate.response.json()).toMatchObject({
      type: expect.stringMatching(/\/request-in-progress\.md$/),
    });
    expect((await first).response.status).toBe(201);
    expect(await paymentsFor(key)).toHaveLength(1);
  });

  it('never retries a 422: the key reused with another body', async () => {
    const first = await pay({ amount: 10 });
    const { fetch, sent } = recording();
    const reused = await pay({ amount: 11, idempotencyKey: first.key, fetch });
    expect([reused.response.status, reused.attempts, sent.length]).toEqual([422, 1, 1]);
    expect(await reused.response.json()).toMatchObject({
      type: expect.stringMatching(/\/idempotency-key-reused\.md$/),
    });
    expect(await paymentsFor(first.key)).toHaveLength(1);
  });

  it('never retries a 400: a body the server refuses', async () => {
    const { fetch, sent } = recording();
    const refused = await idempotentFetch(`${sample.baseUrl}/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 'twenty' }),
      fetch,
    });
    expect([refused.response.status, refused.attempts, sent.length]).toEqual([400, 1, 1]);
    expect(await paymentsFor(refused.key)).toEqual([]);
  });

  it('retries a 429 after its Retry-After', async () => {
    // GET /search allows 3 requests a second per user: a user of its own, with the burst used up.
    const headers = { authorization: `Bearer client-${crypto.randomUUID().slice(0, 8)}` };
    for (let i = 0; i < 3; i++) await fetch(`${sample.baseUrl}/search?q=a`, { headers });
    const reports: AttemptReport[] = [];
    const started = performance.now();
    const { response, attempts } = await idempotentFetch(`${sample.baseUrl}/search?q=a`, {
      headers,
      onAttempt: (report) => reports.push(report),
    });
    expect(response.status).toBe(200);
    expect(attempts).toBe(2);
    expect(reports[0]).toMatchObject({ status: 429, retryInMs: expect.any(Number) });
    expect(reports[0]!.retryInMs).toBeGreaterThanOrEqual(1_000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('retries 503 store-unavailable until the store is back, and pays once', async () => {
    const reports: AttemptReport[] = [];
    redis.pause();
    let resumed = false;
    try {
      const paying = pay({
        maxAttempts: 10,
        timeoutMs: 25_000,
        onAttempt: (report) => {
          reports.push(report);
          // Back after the first 503: the retry that follows finds the store answering.
          if (report.status === 503 && !resumed) {
            resumed = true;
            redis.resume();
          }
        },
      });
      const { response, key } = await paying;
      expect(response.status).toBe(201);
      expect(reports[0]).toMatchObject({ status: 503 });
      expect(reports[0]!.retryInMs).toBeGreaterThanOrEqual(1_000);
      expect(await paymentsFor(key)).toHaveLength(1);
    } finally {
      if (!resumed) redis.resume();
    }
  });

  it('stops waiting when the signal aborts; the same key later finds the payment, once', async () => {
    const key = crypto.randomUUID();
    const first = pay({ idempotencyKey: key, delayMs: 300 });
    await sleep(100);
    const controller = new AbortController();
    const started = performance.now();
    const aborted = pay({
      idempotencyKey: key,
      delayMs: 300,
      signal: controller.signal,
      // Told "in progress, retry in 2 s": the user leaves the page meanwhile.
      onAttempt: () => setTimeout(() => controller.abort(), 50),
    });
    await expect(aborted).rejects.toMatchObject({ reason: 'aborted', attempts: 1, key });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((await first).response.status).toBe(201);
    const later = await pay({ idempotencyKey: key, delayMs: 300 });
    expect([later.response.status, later.replayed]).toEqual([201, true]);
    expect(await paymentsFor(key)).toHaveLength(1);
  });

  it('throws a network IdempotentFetchError when nothing listens, after maxAttempts', async () => {
    const port = await findFreePort();
    const error = await idempotentFetch(`http://127.0.0.1:${port}/payments`, {
      method: 'POST',
      body: '{}',
      maxAttempts: 3,
      baseDelayMs: 10,
    }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(IdempotentFetchError);
    expect(error).toMatchObject({
      reason: 'network',
      attempts: 3,
      key: expect.stringMatching(UUID),
    });
    expect((error as Error).cause).toBeInstanceOf(TypeError);
  });

  it('gives up at the deadline on a frozen server; retrying with the error’s key pays once', async () => {
    const started = performance.now();
    sample.pause();
    let error: unknown;
    try {
      error = await pay({ timeoutMs: 500 }).catch((thrown: unknown) => thrown);
    } finally {
      sample.resume();
    }
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(error).toBeInstanceOf(IdempotentFetchError);
    const { reason, key, attempts } = error as IdempotentFetchError;
    expect([reason, attempts]).toEqual(['timeout', 1]);
    // The frozen server may have taken the request: only the same key makes retrying safe.
    const retry = await pay({ idempotencyKey: key, timeoutMs: 15_000 });
    expect(retry.response.status).toBe(201);
    expect(await paymentsFor(key)).toHaveLength(1);
  });
});
