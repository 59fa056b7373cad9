/**
 * `tollgate/bullmq` with real BullMQ on a real Redis: a job's work runs once per key however
 * often BullMQ hands the job over (re-added after removal, retried, recovered as stalled from a
 * worker that was killed or frozen mid-job), and `exclusiveWorker()` processes a queue in one
 * process at a time.
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Queue, QueueEvents, Worker, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { exclusiveWorker, idempotentProcessor } from '../../src/bullmq.js';
import { storageKey } from '../../src/core/keys.js';
import { ExclusiveLeases, MemoryStore, RedisStore } from '../../src/index.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/sample-process.js';

const WORKER_ENTRY = resolve('test/queues/fixtures/bullmq-worker.mjs');

let redis: RedisServer;
let client: Redis;
let connection: ConnectionOptions;
let queueNumber = 0;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  connection = { host: redis.host, port: redis.port, maxRetriesPerRequest: null };
});

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

function queue(): Queue {
  const created = new Queue(`jobs-${(queueNumber += 1)}`, { connection });
  cleanup.push(() => created.close());
  return created;
}

function store(): RedisStore {
  const opened = new RedisStore({ url: redis.url });
  cleanup.push(() => opened.close());
  return opened;
}

function worker(name: string, processor: ConstructorParameters<typeof Worker>[1]): Worker {
  const started = new Worker(name, processor, { connection, concurrency: 1 });
  cleanup.push(() => started.close(true));
  return started;
}

async function finished(name: string, jobId: string): Promise<unknown> {
  const events = new QueueEvents(name, { connection });
  cleanup.push(() => events.close());
  await events.waitUntilReady();
  const job = await new Queue(name, { connection }).getJob(jobId);
  if (job && (await job.isCompleted())) return job.returnvalue;
  return job?.waitUntilFinished(events, 20_000);
}

const waitUntil = async (what: string, done: () => Promise<boolean>, timeoutMs = 20_000) => {
  const started = performance.now();
  while (!(await done())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
};

describe('idempotentProcessor', () => {
  it('a jobId added again after its job was removed does not run again, and completes with the first result', async () => {
    const jobs = queue();
    let runs = 0;
    worker(
      jobs.name,
      idempotentProcessor(store(), (job) => {
        runs += 1;
        return { charged: (job.data as { amount: number }).amount, run: runs };
      }),
    );
    await jobs.add('charge', { amount: 12 }, { jobId: 'order-1', removeOnComplete: true });
    await waitUntil(
      'first run',
      async () => runs === 1 && (await jobs.getJobCounts()).completed === 0,
    );
    await sleep(100);
    const again = await jobs.add(
      'charge',
      { amount: 12 },
      { jobId: 'order-1', removeOnComplete: false },
    );
    const result = await finished(jobs.name, again.id as string);
    expect(result).toEqual({ charged: 12, run: 1 });
    expect(runs).toBe(1);
  });

  it('a job that failed before its effect is retried and applies it once', async () => {
    const jobs = queue();
    const effects: string[] = [];
    let attempts = 0;
    worker(
      jobs.name,
      idempotentProcessor(store(), (job) => {
        attempts += 1;
        if (attempts < 3) throw new Error('downstream unavailable');
        effects.push(job.id as string);
      }),
    );
    await jobs.add(
      'sync',
      {},
      { jobId: 'sync-1', attempts: 5, backoff: { type: 'fixed', delay: 50 } },
    );
    await finished(jobs.name, 'sync-1');
    expect(attempts).toBe(3);
    expect(effects).toEqual(['sync-1']);
  });

  it('a key from the data: two jobs carrying one payment id run once between them', async () => {
    const jobs = queue();
    let runs = 0;
    const payment = (job: { data: unknown }) => (job.data as { paymentId: string }).paymentId;
    worker(
      jobs.name,
      idempotentProcessor(store(), () => (runs += 1), { key: payment }),
    );
    const first = await jobs.add('pay', { paymentId: 'p-7' });
    const second = await jobs.add('pay', { paymentId: 'p-7' });
    await finished(jobs.name, first.id as string);
    expect(await finished(jobs.name, second.id as string)).toBe(1);
    expect(runs).toBe(1);
  });

  it('one key on two jobs run at once by two workers: the work runs once, both complete with its result', async () => {
    const jobs = queue();
    let runs = 0;
    const processor = idempotentProcessor(
      store(),
      async () => {
        runs += 1;
        await sleep(500);
        return { run: runs };
      },
      { key: (job) => (job.data as { paymentId: string }).paymentId },
    );
    worker(jobs.name, processor);
    worker(jobs.name, processor);
    const [first, second] = await Promise.all([
      jobs.add('pay', { paymentId: 'p-9' }),
      jobs.add('pay', { paymentId: 'p-9' }),
    ]);
    const results = await Promise.all([
      finished(jobs.name, first.id as string),
      finished(jobs.name, second.id as string),
    ]);
    expect(runs).toBe(1);
    expect(results).toEqual([{ run: 1 }, { run: 1 }]);
  });

  it('a failed job is retried, not replayed as a success, even when its work failed after a long run', async () => {
    const jobs = queue();
    let attempts = 0;
    worker(
      jobs.name,
      idempotentProcessor(
        store(),
        async () => {
          attempts += 1;
          await sleep(300);
          if (attempts === 1) throw new Error('boom');
          return attempts;
        },
        { lease: '200ms' },
      ),
    );
    await jobs.add('x', {}, { jobId: 'x-1', attempts: 3, backoff: { type: 'fixed', delay: 10 } });
    expect(await finished(jobs.name, 'x-1')).toBe(2);
  });

  it('refuses what it cannot run with: TOLLGATE_INVALID_CONSUMER', () => {
    const memory = new MemoryStore();
    expect(() => idempotentProcessor({} as never, () => undefined)).toThrow(
      expect.objectContaining({ code: 'TOLLGATE_INVALID_CONSUMER' }),
    );
    expect(() => idempotentProcessor(memory, 'x' as never)).toThrow(
      expect.objectContaining({ code: 'TOLLGATE_INVALID_CONSUMER' }),
    );
    expect(() => idempotentProcessor(memory, () => undefined, { key: 'id' as never })).toThrow(
      expect.objectContaining({ code: 'TOLLGATE_INVALID_CONSUMER' }),
    );
  });
});

describe('idempotentProcessor, worker processes killed and frozen mid-job', () => {
  const processes: WorkerProcess[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((process) => process.kill('SIGKILL')));
  });

  const startWorker = async (name: string): Promise<WorkerProcess> => {
    const started = await startWorkerProcess(
      { REDIS_URL: redis.url, QUEUE: name, WORK_MS: '1500', LOCK_MS: '1000', LEASE: '1s' },
      WORKER_ENTRY,
    );
    processes.push(started);
    await started.waitFor('ready', 15_000);
    return started;
  };

  it('SIGKILL mid-job: the job is recovered as stalled by another worker and its effect applied once', async () => {
    await client.del('effects', 'applied', 'fences');
    const jobs = queue();
    const first = await startWorker(jobs.name);
    await jobs.add('apply', {}, { jobId: 'job-1' });
    await first.waitFor('started job-1', 10_000);
    await first.kill('SIGKILL');
    const second = await startWorker(jobs.name);
    await finished(jobs.name, 'job-1');
    await sleep(200);
    expect(await client.lrange('effects', 0, -1)).toEqual(['job-1']);
    expect(second.output()).toMatch(/applied job-1/);
    expect((await jobs.getJob('job-1'))?.returnvalue).toEqual({ appliedBy: second.pid });
  });

  it('SIGSTOP mid-job past its lock and lease: the recovered run applies it, the resumed one does not', async () => {
    await client.del('effects', 'applied', 'fences');
    const jobs = queue();
    const first = await startWorker(jobs.name);
    await jobs.add('apply', {}, { jobId: 'job-2' });
    await first.waitFor('started job-2', 10_000);
    first.pause();
    const second = await startWorker(jobs.name);
    await second.waitFor('applied job-2', 15_000);
    const tokens = [first, second].map((w) =>
      Number(/started job-2 \(fencing token (\d+)\)/.exec(w.output())?.[1]),
    );
    expect(tokens[1]).toBeGreaterThan(tokens[0] as number);
    first.resume();
    await first.waitFor(/lease of job-2 lost|refused job-2|already job-2|failed job-2/, 5_000);
    await sleep(300);
    expect(await client.lrange('effects', 0, -1)).toEqual(['job-2']);
    expect(first.output()).not.toMatch(/applied job-2/);
  });
});

describe('exclusiveWorker', () => {
  it('one process at a time works the queue; when the holder stops, the standby takes over', async () => {
    const jobs = queue();
    const done: Array<[string, string]> = [];
    const leading = new Set<string>();
    const run = (who: string, shutdown: AbortController) => {
      const memoryOnRedis = store();
      return exclusiveWorker({
        leases: new ExclusiveLeases(memoryOnRedis, {
          onEvent: (event) => {
            if (event.type === 'lease-acquired') leading.add(who);
            if (event.type === 'lease-lost' || event.type === 'lease-released') leading.delete(who);
          },
        }),
        name: `worker-${jobs.name}`,
        lease: { ttl: '1500ms' },
        signal: shutdown.signal,
        createWorker: () =>
          new Worker(
            jobs.name,
            async (job) => {
              done.push([who, job.id as string]);
            },
            { connection, autorun: false, concurrency: 1 },
          ),
      });
    };
    const stopA = new AbortController();
    const stopB = new AbortController();
    const a = run('a', stopA);
    await sleep(300);
    const b = run('b', stopB);
    cleanup.push(async () => {
      stopA.abort();
      stopB.abort();
      await Promise.all([a, b]);
    });
    for (let i = 0; i < 10; i += 1) await jobs.add('n', {}, { jobId: `n-${i}` });
    await waitUntil('10 done', async () => done.length >= 10);
    expect(new Set(done.map(([who]) => who))).toEqual(new Set(['a']));
    stopA.abort();
    await a;
    for (let i = 10; i < 20; i += 1) await jobs.add('n', {}, { jobId: `n-${i}` });
    await waitUntil('20 done', async () => done.length >= 20);
    expect(done.slice(10).every(([who]) => who === 'b')).toBe(true);
    // B loses its lease (the store says another holder has it): its worker is closed at its next
    // renewal, and C, standing by, takes the lease. Taken again until C is the one that got it.
    const lost = new AbortController();
    const c = run('c', lost);
    cleanup.push(async () => {
      lost.abort();
      await c;
    });
    await waitUntil('c leads', async () => {
      if (leading.has('c')) return true;
      await client.del(storageKey('tollgate', 'lease', [`worker-${jobs.name}`]));
      await sleep(700);
      return leading.has('c');
    });
    // B's renewal (every 500 ms) has been refused by now: only C works.
    await waitUntil('b stopped', async () => !leading.has('b'));
    const afterTakeover = done.length;
    for (let i = 20; i < 30; i += 1) await jobs.add('n', {}, { jobId: `n-${i}` });
    await waitUntil('30 more done', async () => done.length >= afterTakeover + 10);
    expect(done.slice(afterTakeover).every(([who]) => who === 'c')).toBe(true);
  });
});
