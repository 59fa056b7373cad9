/**
 * `GET /health` on the three sample variants, run as users run them (the built entry points, a
 * real redis-server): 200 while Redis answers, 503 within 2 s of Redis being frozen (SIGSTOP: it
 * keeps the connection open and answers nothing, the hardest case for a probe), 200 again once it
 * resumes. The probe is never rate limited nor protected.
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { request } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startSampleProcess, type SampleProcess } from '../helpers/sample-process.js';

const VARIANTS = [
  { name: 'Nest on Express', entry: resolve('sample-app/dist/sample-app/src/main.js') },
  { name: 'Nest on Fastify', entry: resolve('sample-app/dist/sample-app/src/fastify/main.js') },
  { name: 'plain Express', entry: resolve('sample-app/dist/sample-app/src/express/main.js') },
] as const;

/** What the issue promises: a frozen Redis shows as 503 within this long. */
const DOWN_WITHIN_MS = 2_000;

/** Asks `/health` until it answers `status`; returns how long that took, or throws after `withinMs`. */
async function waitForStatus(baseUrl: string, status: number, withinMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const answer = await request(baseUrl, 'GET', '/health');
    const elapsed = performance.now() - started;
    if (answer.status === status) return elapsed;
    if (elapsed > withinMs) {
      throw new Error(`/health still answered ${answer.status} after ${Math.round(elapsed)} ms`);
    }
    await sleep(50);
  }
}

describe.each(VARIANTS)('GET /health on the sample ($name)', ({ entry }) => {
  let redis: RedisServer;
  let sample: SampleProcess;
  beforeAll(async () => {
    redis = await startRedis();
    sample = await startSampleProcess({ REDIS_URL: redis.url }, entry);
  });
  afterAll(async () => {
    redis?.resume();
    await sample?.kill();
    await redis?.stop();
  });

  it('answers 200 with the store up and its latency', async () => {
    const answer = await request(sample.baseUrl, 'GET', '/health');
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('"up"');
    expect(answer.text).toContain('latencyMs');
  });

  it('is neither rate limited nor protected: many probes in a row all answer 200', async () => {
    for (let i = 0; i < 30; i++) {
      const answer = await request(sample.baseUrl, 'GET', '/health', {
        headers: { 'idempotency-key': 'probe' },
      });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('ratelimit')).toBeNull();
      expect(answer.headers.get('idempotent-replayed')).toBeNull();
    }
  });

  it('answers 503 within 2 s of Redis being paused, and 200 again once it resumes', async () => {
    const pausedAt = performance.now();
    redis.pause();
    try {
      await waitForStatus(sample.baseUrl, 503, DOWN_WITHIN_MS);
      expect(performance.now() - pausedAt).toBeLessThan(DOWN_WITHIN_MS);
      const down = await request(sample.baseUrl, 'GET', '/health');
      expect(down.status).toBe(503);
      expect(down.text).toContain('"down"');
      expect(down.text).toMatch(/did not answer PING/);
    } finally {
      redis.resume();
    }
    await waitForStatus(sample.baseUrl, 200, 5_000);
  });
});
