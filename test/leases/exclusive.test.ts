/**
 * Exclusive leases on the in-memory store and on a real redis-server: one holder among many,
 * renewed, handed over on release at once and on a holder's death within ttl + retryEvery, with a
 * signal that aborts before another holder can exist and a fencing token that grows with every
 * take. Two `ExclusiveLeases` on two connections stand for two processes.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ExclusiveLeaseEvent } from '../../src/core/lease/events.js';
import type { ExclusiveLease } from '../../src/core/lease/exclusive-lease.js';
import { ExclusiveLeases } from '../../src/core/lease/exclusive.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { QuorumStore } from '../../src/stores/quorum/quorum-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import type { TollgateStore } from '../../src/core/store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { SlowLockStore } from '../helpers/slow-lock-store.js';
import { startFaultProxy, type FaultProxy } from '../helpers/tcp-proxy.js';

describe.each(['memory', 'redis'] as const)('exclusive leases on %s', (kind) => {
  let redis: RedisServer | undefined;
  let proxy: FaultProxy | undefined;
  /** Process A (through the proxy on Redis) and process B. */
  let storeA: TollgateStore;
  let storeB: TollgateStore;
  const events: ExclusiveLeaseEvent[] = [];

  beforeAll(async () => {
    if (kind === 'memory') {
      storeA = storeB = new MemoryStore();
      return;
    }
    redis = await startRedis();
    proxy = await startFaultProxy({ host: redis.host, port: redis.port });
    storeA = new RedisStore({ url: proxy.url, options: { retryStrategy: () => 20 } });
    storeB = new RedisStore({ url: redis.url });
    await Promise.all([storeA.ready?.(), storeB.ready?.()]);
  });

  afterAll(async () => {
    await storeA?.close?.();
    if (storeB !== storeA) await storeB?.close?.();
    await proxy?.close();
    await redis?.stop();
  });

  const leasesOn = (store: TollgateStore) =>
    new ExclusiveLeases(store, { onEvent: (event) => events.push(event) });

  it('has one holder at a time; a release hands it over at once, with a greater token', async () => {
    const name = randomUUID();
    const a = await leasesOn(storeA).tryAcquire(name, { ttl: '2s' });
    expect(a?.held).toBe(true);
    expect(await leasesOn(storeB).tryAcquire(name, { ttl: '2s' })).toBeUndefined();
    await a?.release();
    expect(a?.held).toBe(false);
    expect(a?.signal.aborted).toBe(true);
    const b = await leasesOn(storeB).tryAcquire(name, { ttl: '2s' });
    expect(b?.held).toBe(true);
    expect(b?.fencingToken).toBeGreaterThan(a?.fencingToken ?? Infinity);
    await b?.release();
  });

  it('keeps the lease renewed in the background past its ttl', async () => {
    const name = randomUUID();
    const a = await leasesOn(storeA).tryAcquire(name, { ttl: '300ms' });
    await sleep(900);
    expect(a?.held).toBe(true);
    expect(await leasesOn(storeB).tryAcquire(name, { ttl: '300ms' })).toBeUndefined();
    await a?.release();
  });

  it('refuses a renewEvery that comes after the lease is already given up as lost', async () => {
    // ttl 1 s: the holder is told it lost the lease 100 ms (the safety margin) before it could run
    // out, at 900 ms; a renewal every 950 ms always comes too late, on a healthy store.
    const name = randomUUID();
    let lease: ExclusiveLease | undefined;
    try {
      lease = await leasesOn(storeA).tryAcquire(name, { ttl: '1s', renewEvery: '950ms' });
    } catch (error) {
      expect(String(error)).toMatch(/renewEvery/);
      return;
    }
    await sleep(1_300);
    const held = lease?.held;
    await lease?.release();
    expect(held).toBe(true);
  });

  it('runExclusive waits for the holder, runs the work, and releases after', async () => {
    const name = randomUUID();
    const leases = leasesOn(storeB);
    const holder = await leases.tryAcquire(name, { ttl: '1s' });
    setTimeout(() => void holder?.release(), 200);
    const started = performance.now();
    const result = await leases.runExclusive(
      name,
      async (lease) => {
        expect(lease.held).toBe(true);
        return lease.fencingToken;
      },
      { ttl: '1s', retryEvery: '50ms' },
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(result).toBeGreaterThan(holder?.fencingToken ?? Infinity);
    // Released after the work: free again.
    const again = await leases.tryAcquire(name, { ttl: '1s' });
    expect(again).toBeDefined();
    await again?.release();
  });

  it('lead(): one leader at a time; a stopped leader hands over within retryEvery', async () => {
    const name = randomUUID();
    const running = new Set<string>();
    let overlap = false;
    const log: string[] = [];
    const worker = (who: string) => async (lease: ExclusiveLease) => {
      if (running.size > 0) overlap = true;
      running.add(who);
      log.push(`${who}:${lease.fencingToken}`);
      await new Promise<void>((resolve) =>
        lease.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      running.delete(who);
    };
    const stopA = new AbortController();
    const stopB = new AbortController();
    const options = { ttl: '600ms', retryEvery: '100ms' } as const;
    const leadingA = leasesOn(storeA).lead(name, worker('a'), { ...options, signal: stopA.signal });
    await sleep(150);
    const leadingB = leasesOn(storeB).lead(name, worker('b'), { ...options, signal: stopB.signal });
    await sleep(300);
    expect(log).toHaveLength(1);
    const first = log[0]?.split(':')[0];
    const stopFirst = first === 'a' ? stopA : stopB;
    const handedAt = performance.now();
    stopFirst.abort();
    while (log.length < 2 && performance.now() - handedAt < 2_000) await sleep(10);
    expect(log).toHaveLength(2);
    expect(performance.now() - handedAt).toBeLessThan(500);
    expect(Number(log[1]?.split(':')[1])).toBeGreaterThan(Number(log[0]?.split(':')[1]));
    stopA.abort();
    stopB.abort();
    await Promise.all([leadingA, leadingB]);
    expect(overlap).toBe(false);
  });

  if (kind === 'redis') {
    it('Redis paused for less than the lease: the holder keeps it, and no standby takes it', async () => {
      const name = randomUUID();
      const a = await leasesOn(storeA).tryAcquire(name, { ttl: '1500ms' });
      redis?.pause();
      try {
        await sleep(700);
      } finally {
        redis?.resume();
      }
      await sleep(600);
      expect(a?.held).toBe(true);
      expect(a?.signal.aborted).toBe(false);
      expect(await leasesOn(storeB).tryAcquire(name, { ttl: '1500ms' })).toBeUndefined();
      await a?.release();
    });

    it('Redis paused for longer than the lease: the holder is told, and the next holder gets a greater token', async () => {
      const name = randomUUID();
      const a = await leasesOn(storeA).tryAcquire(name, { ttl: '600ms' });
      redis?.pause();
      try {
        await sleep(900);
        // Told while Redis is still silent: the lease may run out at any moment.
        expect(a?.signal.aborted).toBe(true);
      } finally {
        redis?.resume();
      }
      const b = await leasesOn(storeB).runExclusive(name, (lease) => lease.fencingToken, {
        ttl: '600ms',
        retryEvery: '50ms',
      });
      expect(b).toBeGreaterThan(a?.fencingToken ?? Infinity);
    });

    it('a holder cut off from Redis is told before the standby takes over, and the standby takes over within ttl + retryEvery', async () => {
      const name = randomUUID();
      const ttl = 1_200;
      const a = await leasesOn(storeA).tryAcquire(name, { ttl: `${ttl}ms` });
      let abortedAt = Number.POSITIVE_INFINITY;
      a?.signal.addEventListener('abort', () => (abortedAt = performance.now()));
      // A is as good as dead to Redis: every renewal fails.
      const cutAt = performance.now();
      proxy?.refuse();
      let takenAt = Number.POSITIVE_INFINITY;
      try {
        await leasesOn(storeB).runExclusive(
          name,
          () => {
            takenAt = performance.now();
          },
          { ttl: `${ttl}ms`, retryEvery: '100ms' },
        );
        expect(abortedAt).toBeLessThan(takenAt);
        expect(takenAt - cutAt).toBeLessThan(ttl + 100 + 400);
        expect(a?.held).toBe(false);
      } finally {
        proxy?.heal();
      }
    });
  }
});

describe('exclusive leases on a QuorumStore of three Redis servers', () => {
  let nodes: RedisServer[];
  const opened: TollgateStore[] = [];

  beforeAll(async () => {
    nodes = await Promise.all([startRedis(), startRedis(), startRedis()]);
  });

  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close?.()));
    await Promise.all((nodes ?? []).map((node) => node.stop()));
  });

  /** One app process: its own connection to each node, all of them connected. */
  async function quorum(): Promise<TollgateStore> {
    const connections = nodes.map(
      (node) => new RedisStore({ url: node.url, options: { retryStrategy: () => 50 } }),
    );
    // A node not yet connected when the lease is taken does not hold it, and the lease would then
    // survive no further loss: this test is about losing one node of three that all hold it.
    await Promise.all(connections.map((connection) => connection.ready()));
    const store = new QuorumStore({ stores: connections });
    opened.push(store);
    return store;
  }

  it('keeps its holder through one node killed and restarted empty, and hands over on release', async () => {
    const name = randomUUID();
    const a = await new ExclusiveLeases(await quorum()).tryAcquire(name, { ttl: '900ms' });
    const other = new ExclusiveLeases(await quorum());
    expect(a?.held).toBe(true);
    await nodes[0]?.kill();
    await sleep(1_200);
    // Renewed by the two others past its ttl; the standby is outvoted.
    expect(a?.held).toBe(true);
    expect(await other.tryAcquire(name, { ttl: '900ms' })).toBeUndefined();
    await nodes[0]?.restart();
    await sleep(400);
    expect(a?.held).toBe(true);
    expect(await other.tryAcquire(name, { ttl: '900ms' })).toBeUndefined();
    await a?.release();
    const b = await other.tryAcquire(name, { ttl: '900ms' });
    expect(b?.fencingToken).toBeGreaterThan(a?.fencingToken ?? Infinity);
    await b?.release();
  });
});

describe('lead() stopped while its take of the lease is on its way', () => {
  it('gives the lease back and resolves, without starting the work', async () => {
    const store = new SlowLockStore();
    const stop = new AbortController();
    let worked = false;
    const leading = new ExclusiveLeases(store).lead(
      'late-take',
      async (lease) => {
        worked = true;
        await new Promise<void>((resolve) =>
          lease.signal.addEventListener('abort', () => resolve(), { once: true }),
        );
      },
      { ttl: '600ms', storeTimeout: '5s', signal: stop.signal },
    );
    await store.taking;
    // Stopped after the store took the key, before its answer arrives.
    stop.abort();
    store.answer();
    const outcome = await Promise.race([
      leading.then(() => 'resolved'),
      sleep(1_000).then(() => 'still leading'),
    ]);
    expect(outcome).toBe('resolved');
    expect(worked).toBe(false);
    // Given back, not left renewed with nobody to release it.
    const next = await new ExclusiveLeases(store).tryAcquire('late-take', { ttl: '600ms' });
    expect(next).toBeDefined();
    await next?.release();
  });
});

describe('runExclusive() aborted while its take of the lease is on its way', () => {
  it('rejects with the abort, gives the lease back, and never starts the work', async () => {
    const store = new SlowLockStore();
    const abort = new AbortController();
    const leases = new ExclusiveLeases(store);
    let worked = false;
    const running = leases.runExclusive(
      'late-run',
      async () => {
        worked = true;
      },
      { signal: abort.signal },
    );
    await store.taking;
    abort.abort(new Error('shutting down'));
    store.answer();
    await expect(running).rejects.toThrow('shutting down');
    expect(worked).toBe(false);
    // Given back: another caller takes it at once.
    const next = await leases.tryAcquire('late-run');
    expect(next).toBeDefined();
    await next?.release();
  });
});
