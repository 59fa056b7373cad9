import { randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisStore } from '../../src/stores/redis/redis-store.js';
import type { BeginResult } from '../../src/core/store.js';
import { parseInfo, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * RedisStore corks its socket until the end of the event-loop turn, so the commands of every
 * request read in one turn leave in one socket write. Redis's INFO stats count its reads from
 * client sockets (`total_reads_processed`): one write of 50 commands is one read, or a few when
 * the kernel splits it; 50 separate writes are read in up to 50 reads.
 */
const BATCH = 50;

let server: RedisServer;
let store: RedisStore;
/** One connection for INFO, opened once, so connecting and closing it add no reads of their own. */
let observer: Redis;
/** Reads that one `INFO stats` on the observer adds by itself. */
let readsPerInfo: number;

async function totalReads(): Promise<number> {
  const reads = parseInfo(await observer.info('stats')).get('total_reads_processed');
  if (reads === undefined) throw new Error('INFO stats has no total_reads_processed');
  return Number(reads);
}

/** Reads Redis processed while `work` ran, less the observer's own INFO calls. */
async function readsDuring(work: () => Promise<unknown>): Promise<number> {
  const before = await totalReads();
  await work();
  const after = await totalReads();
  return after - before - readsPerInfo;
}

beforeAll(async () => {
  server = await startRedis();
  // RESP2, no ready check and no CLIENT SETINFO: the observer sends only the INFO calls below.
  observer = new Redis(server.url, {
    protocol: 2,
    enableReadyCheck: false,
    disableClientInfo: true,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  await observer.connect();
  store = new RedisStore({ url: server.url });
  await store.ready();
  // Loads the script on the store's connection, so every call below is an EVALSHA.
  await store.begin(`t:warm:{${randomUUID()}}`, 'warm', 'fp', 30_000);

  // Two INFO calls in a row, with nothing between them, several times: the least is the baseline.
  const baselines: number[] = [];
  for (let i = 0; i < 5; i++) baselines.push(-(await totalReads()) + (await totalReads()));
  readsPerInfo = Math.min(...baselines);
});

afterAll(async () => {
  await store?.close();
  observer?.disconnect();
  await server?.stop();
});

describe('RedisStore (single node) batching', () => {
  it('sends the commands of one event-loop turn in one write: Redis reads 50 begins in a few reads', async () => {
    expect(readsPerInfo).toBe(1);
    const keys = Array.from({ length: BATCH }, () => `t:key:{${randomUUID()}}`);

    let first: BeginResult[] = [];
    const reads = await readsDuring(async () => {
      // All 50 in one synchronous loop: one turn of the event loop.
      const pending = keys.map((key, i) => store.begin(key, `owner-${i}`, `fp-${i}`, 30_000));
      first = await Promise.all(pending);
    });
    expect(first.map((result) => result.state)).toEqual(keys.map(() => 'acquired'));
    expect(reads).toBeLessThanOrEqual(5);

    let second: BeginResult[] = [];
    const readsAgain = await readsDuring(async () => {
      const pending = keys.map((key, i) => store.begin(key, `other-${i}`, `fp-${i}`, 30_000));
      second = await Promise.all(pending);
    });
    expect(second.map((result) => result.state)).toEqual(keys.map(() => 'in-progress'));
    for (const result of second) {
      if (result.state !== 'in-progress') continue;
      expect(result.retryAfterMs).toBeGreaterThan(0);
      expect(result.retryAfterMs).toBeLessThanOrEqual(30_000);
    }
    expect(readsAgain).toBeLessThanOrEqual(5);
  });

  it('writes the commands of one event-loop turn to its socket in one call', async () => {
    // The client side of the same guarantee, which does not depend on when Redis happens to wake:
    // a corked socket hands everything written to it to one `_writev` when it is uncorked; an
    // uncorked one calls `_write` once per command.
    const socket = (store.client as unknown as { stream: WritableInternals }).stream;
    const calls: string[] = [];
    const write = socket._write;
    const writev = socket._writev;
    socket._write = function (this: unknown, ...args: unknown[]) {
      calls.push('_write');
      return write.apply(this, args);
    };
    socket._writev = function (this: unknown, ...args: unknown[]) {
      calls.push('_writev');
      return writev.apply(this, args);
    };
    try {
      const keys = Array.from({ length: BATCH }, () => `t:key:{${randomUUID()}}`);
      const results = await Promise.all(
        keys.map((key, i) => store.begin(key, `owner-${i}`, `fp-${i}`, 30_000)),
      );
      expect(results.map((result) => result.state)).toEqual(keys.map(() => 'acquired'));
    } finally {
      socket._write = write;
      socket._writev = writev;
    }
    expect(calls).toEqual(['_writev']);
  });
});

describe('RedisStore scripts', () => {
  it('sends a script in full once per connection, then by SHA1 only', async () => {
    await observer.config('RESETSTAT');
    const key = `t:key:{${randomUUID()}}`;
    for (const owner of ['a', 'b', 'c']) {
      expect(await store.begin(key, owner, 'fp', 30_000)).toMatchObject({ state: 'acquired' });
      expect(await store.release(key, owner)).toBe(true);
    }
    const stats = parseInfo(await observer.info('commandstats'));
    // release is sent in full the first time, then by SHA1; begin went in full in an earlier test.
    expect(stats.get('cmdstat_eval')).toMatch(/^calls=1,/);
    expect(stats.get('cmdstat_evalsha')).toMatch(/^calls=5,/);
  });

  it('reads every kind of record the begin script finds, on a second connection too', async () => {
    const legacy = new RedisStore({ url: server.url });
    try {
      await legacy.ready();
      const key = `t:key:{${randomUUID()}}`;
      expect(await legacy.begin(key, 'a', 'fp', 30_000)).toMatchObject({ state: 'acquired' });
      expect(await legacy.begin(key, 'a', 'fp', 30_000)).toMatchObject({ state: 'acquired' });
      expect(await legacy.begin(key, 'b', 'other', 30_000)).toEqual({ state: 'mismatch' });
      expect(await legacy.begin(key, 'b', 'fp', 30_000)).toMatchObject({ state: 'in-progress' });
      const response = {
        status: 201,
        headers: [['x-a', 'é']] as Array<[string, string]>,
        body: Buffer.from([0, 10, 255]),
      };
      expect(await legacy.complete(key, 'a', response, 60_000)).toBe(true);
      // With what is left of its retention: how long a process may keep it (resultCache).
      const completed = { state: 'completed', response, retainedMs: expect.any(Number) };
      expect(await legacy.begin(key, 'c', 'fp', 30_000)).toEqual(completed);
      // Another connection reads the same record the same way.
      expect(await store.begin(key, 'd', 'fp', 30_000)).toEqual(completed);
    } finally {
      await legacy.close();
    }
  });

  it('keeps working after the server forgets its scripts (SCRIPT FLUSH): NOSCRIPT is answered with EVAL', async () => {
    await observer.script('FLUSH');
    const key = `t:key:{${randomUUID()}}`;
    expect(await store.begin(key, 'a', 'fp', 30_000)).toMatchObject({ state: 'acquired' });
    const response = {
      status: 201,
      headers: [['content-type', 'text/plain']] as const,
      body: Buffer.from('ok'),
    };
    expect(
      await store.complete(key, 'a', { ...response, headers: [...response.headers] }, 60_000),
    ).toBe(true);
    expect(await store.begin(key, 'b', 'fp', 30_000)).toMatchObject({
      state: 'completed',
      response: { status: 201, body: Buffer.from('ok') },
    });
  });
});

/** The methods a Node.js Writable implements, which `write()` and `uncork()` call. */
interface WritableInternals {
  _write: (...args: unknown[]) => unknown;
  _writev: (...args: unknown[]) => unknown;
}
