/**
 * The sample worker (`npm run start:worker`) with two processes on one Redis and
 * `TOLLGATE_LEASE=3s`: one leads and consumes, the other stands by. Through a leader killed, a
 * leader frozen past its lease and then resumed, and a clean shutdown, every job must appear in
 * `tollgate-sample:effects` exactly once and none may be left in processing; the standby must take
 * over within the ttl (plus its retry) after a death, and at its next retry after a release.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { COMPLETE_JOB, JOB_KEYS, TAKE_JOBS } from '../../sample-app/src/shared/jobs.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/sample-process.js';

const LEASE_MS = 3_000;
/** Short jobs, so 500 of them and a takeover fit in a few seconds. */
const WORK_MS = 5;
const LEADING = /leading \(fencing token (\d+)\)/;

describe('sample worker, two processes on one Redis', () => {
  let redis: RedisServer;
  let client: Redis;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });

  beforeEach(() => client.flushall());

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.kill('SIGKILL')));
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  const start = async (env: Record<string, string> = {}): Promise<WorkerProcess> => {
    const worker = await startWorkerProcess({
      REDIS_URL: redis.url,
      TOLLGATE_LEASE: `${LEASE_MS / 1000}s`,
      WORK_MS: String(WORK_MS),
      ...env,
    });
    workers.push(worker);
    return worker;
  };

  /** A leads (started first, and seen leading), B stands by. */
  const startPair = async (): Promise<[WorkerProcess, WorkerProcess]> => {
    const a = await start();
    await a.waitFor(LEADING, 5_000);
    const b = await start();
    expect(b.output()).toMatch(/standing by/);
    return [a, b];
  };

  const pushJobs = async (count: number): Promise<string[]> => {
    const ids = Array.from({ length: count }, (_, i) => `job-${i}`);
    await client.rpush(JOB_KEYS.jobs, ...ids);
    return ids;
  };

  const waitUntil = async (what: string, done: () => Promise<boolean>, timeoutMs = 15_000) => {
    const started = performance.now();
    while (!(await done())) {
      if (performance.now() - started > timeoutMs) throw new Error(`timed out: ${what}`);
      await sleep(10);
    }
  };

  const effectsAtLeast = (n: number) => async () => (await client.llen(JOB_KEYS.effects)) >= n;

  /** Every job done exactly once, and nothing waiting or in flight. */
  const expectEachJobOnce = async (ids: string[]): Promise<void> => {
    await waitUntil('every job done', async () => {
      const [done, processing] = await Promise.all([
        client.llen(JOB_KEYS.effects),
        client.llen(JOB_KEYS.processing),
      ]);
      return done >= ids.length && processing === 0;
    });
    // A moment more: a duplicate write would land now.
    await sleep(200);
    const effects = await client.lrange(JOB_KEYS.effects, 0, -1);
    expect(effects).toHaveLength(ids.length);
    expect([...effects].sort()).toEqual([...ids].sort());
    expect(await client.llen(JOB_KEYS.processing)).toBe(0);
    expect(await client.llen(JOB_KEYS.jobs)).toBe(0);
  };

  const tokenOf = (worker: WorkerProcess): number => Number(LEADING.exec(worker.output())?.[1]);
  const processedBy = (worker: WorkerProcess): string[] =>
    [...worker.output().matchAll(/processed (\S+)/g)].map((match) => match[1] as string);

  it('without REDIS_URL: exits with code 2 and says why', async () => {
    const worker = await startWorkerProcess({ REDIS_URL: '' });
    expect(await worker.exited).toBe(2);
    expect(worker.output().trim()).toBe(
      'worker: set REDIS_URL (the worker needs Redis: its lease and its jobs live there)',
    );
  });

  it('the leader killed mid-job: the standby leads within 4 s and every job is done once', async () => {
    const [a, b] = await startPair();
    const ids = await pushJobs(500);
    await waitUntil('half the jobs done', effectsAtLeast(250));
    const killedAt = performance.now();
    await a.kill('SIGKILL');
    const inFlight = await client.lrange(JOB_KEYS.processing, 0, -1);
    const ledAt = await b.waitFor(LEADING, 6_000);
    const takeoverMs = Math.round(ledAt - killedAt);
    console.log(
      `worker takeover after SIGKILL: ${takeoverMs} ms (ttl ${LEASE_MS} ms); ` +
        `jobs the killed leader had in flight: ${JSON.stringify(inFlight)}`,
    );
    expect(takeoverMs).toBeLessThan(4_000);
    expect(tokenOf(b)).toBeGreaterThan(tokenOf(a));
    await expectEachJobOnce(ids);
    // What the killed leader had taken was finished by the new one, not lost.
    for (const id of inFlight) expect(processedBy(b)).toContain(id);
  });

  it('the leader frozen past its lease, then resumed: it loses the lease and writes nothing more', async () => {
    const [a, b] = await startPair();
    const ids = await pushJobs(500);
    await waitUntil('half the jobs done', effectsAtLeast(250));
    const pausedAt = performance.now();
    a.pause();
    // Anything A sent before it froze has reached Redis by now; B cannot lead before ~2 s.
    await sleep(100);
    const writtenByA = new Set(await client.lrange(JOB_KEYS.effects, 0, -1));
    const inFlight = await client.lrange(JOB_KEYS.processing, 0, -1);
    const ledAt = await b.waitFor(LEADING, 6_000);
    const takeoverMs = Math.round(ledAt - pausedAt);
    console.log(
      `worker takeover after SIGSTOP: ${takeoverMs} ms (ttl ${LEASE_MS} ms); ` +
        `jobs the frozen leader had in flight: ${JSON.stringify(inFlight)}`,
    );
    expect(takeoverMs).toBeLessThan(4_000);
    await sleep(5_000 - (performance.now() - pausedAt));
    a.resume();
    await a.waitFor('lost the lease', 3_000);
    await expectEachJobOnce(ids);
    // Everything A reports done, it wrote before it froze; after the resume it wrote nothing.
    const late = processedBy(a).filter((id) => !writtenByA.has(id));
    expect(late).toEqual([]);
    expect(a.output().match(new RegExp(LEADING, 'g'))).toHaveLength(1);
    const refused = a.output().match(/refused the write of \S+/)?.[0];
    console.log(`frozen leader after the resume: ${refused ?? 'no write attempted'}`);
    // And the fence refuses A's token outright now, for a take and for a finish alike.
    const stale = String(tokenOf(a));
    const { fence, jobs, processing, effects } = JOB_KEYS;
    expect(await client.eval(TAKE_JOBS, 3, fence, jobs, processing, stale, 'next')).toBeNull();
    expect(
      await client.eval(COMPLETE_JOB, 3, fence, processing, effects, stale, 'job-0'),
    ).toBeNull();
  });

  it('SIGTERM on the leader: it releases the lease, exits 0, and the standby leads at its next retry', async () => {
    const [a, b] = await startPair();
    const ids = await pushJobs(200);
    await waitUntil('half the jobs done', effectsAtLeast(100));
    const stoppedAt = performance.now();
    await a.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const ledAt = await b.waitFor(LEADING, 6_000);
    const takeoverMs = Math.round(ledAt - stoppedAt);
    console.log(`worker takeover after SIGTERM: ${takeoverMs} ms (ttl ${LEASE_MS} ms)`);
    // Released, not run out: within the standby's retry (a third of the ttl, ±20 %), well before
    // the lease could have expired (at least 2 s after its last renewal).
    expect(takeoverMs).toBeLessThan(1_500);
    expect(a.output()).not.toMatch(/lost the lease/);
    expect(a.output()).toMatch(/stopped\n$/);
    await expectEachJobOnce(ids);
  });
});
