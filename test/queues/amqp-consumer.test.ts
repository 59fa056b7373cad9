/**
 * `exclusiveConsumer()` (tollgate/amqp) on a real RabbitMQ broker and a real Redis: one consumer
 * among several, in queue order, each message applied once, and a lost lease that stops consuming
 * at once and hands every unacknowledged message to the next holder in order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { connect, type ChannelModel } from 'amqplib';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  exclusiveConsumer,
  type AmqpConnection,
  type ExclusiveConsumer,
  type ExclusiveConsumerEvent,
} from '../../src/amqp.js';
import { storageKey } from '../../src/core/keys.js';
import { ExclusiveLeases, MemoryStore, RedisStore, TollgateConfigError } from '../../src/index.js';
import { startRabbitMq, type RabbitMqServer } from '../helpers/rabbitmq-server.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { SlowLockStore } from '../helpers/slow-lock-store.js';
import { startFaultProxy } from '../helpers/tcp-proxy.js';

let broker: RabbitMqServer;
let redis: RedisServer;
let client: Redis;
let publisher: ChannelModel;
const cleanup: Array<() => Promise<unknown>> = [];
let queueNumber = 0;

beforeAll(async () => {
  [broker, redis] = await Promise.all([startRabbitMq(), startRedis()]);
  client = new Redis(redis.url);
  publisher = await connect(broker.url);
}, 90_000);

// Each step is bounded, so a clean-up that hangs cannot turn into a hook timeout for the whole
// file; that stop() resolves is asserted by the tests that depend on it.
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) {
    await Promise.race([step().catch(() => undefined), sleep(10_000)]);
  }
}, 90_000);

afterAll(async () => {
  await publisher?.close().catch(() => undefined);
  client?.disconnect();
  await Promise.all([broker?.stop(), redis?.stop()]);
});

/** A fresh durable queue holding `count` messages `{ id, seq }` (ids `m-<seq>`). */
async function queueWith(count: number, duplicates: number[] = []): Promise<string> {
  const queue = `q-${(queueNumber += 1)}`;
  const channel = await publisher.createConfirmChannel();
  await channel.assertQueue(queue, { durable: true });
  for (let seq = 0; seq < count; seq += 1) {
    const times = duplicates.includes(seq) ? 2 : 1;
    for (let i = 0; i < times; i += 1) {
      channel.sendToQueue(queue, Buffer.from(JSON.stringify({ id: `m-${seq}`, seq })), {
        messageId: `m-${seq}`,
        persistent: true,
      });
    }
  }
  await channel.waitForConfirms();
  await channel.close();
  return queue;
}

async function depth(queue: string): Promise<number> {
  const channel = await publisher.createChannel();
  try {
    return (await channel.checkQueue(queue)).messageCount;
  } finally {
    await channel.close();
  }
}

interface Member {
  consumer: ExclusiveConsumer;
  connection: ChannelModel;
  applied: string[];
  events: ExclusiveConsumerEvent[];
  leases: ExclusiveLeases;
}

/** One process's consumer: its own AMQP connection and store; applied ids go to `log` too. */
async function member(
  queue: string,
  log: string[],
  options: {
    workMs?: number;
    onHandle?: (id: string) => Promise<void> | void;
    /** What the consumer is given in place of its connection. */
    wrap?: (connection: ChannelModel) => AmqpConnection;
    busyRetry?: string;
  } = {},
): Promise<Member> {
  const connection = await connect(broker.url);
  const store = new RedisStore({ url: redis.url });
  const leases = new ExclusiveLeases(store);
  const applied: string[] = [];
  const events: ExclusiveConsumerEvent[] = [];
  const consumer = exclusiveConsumer({
    leases,
    store,
    connection: options.wrap ? options.wrap(connection) : connection,
    name: `consumer-${queue}`,
    queue,
    prefetch: 5,
    lease: { ttl: '1500ms' },
    ...(options.busyRetry === undefined ? {} : { busyRetry: options.busyRetry as '10ms' }),
    onEvent: (event) => events.push(event),
    handle: async (message, { signal }) => {
      const { id } = JSON.parse(Buffer.from(message.content).toString()) as { id: string };
      if (options.workMs) await sleep(options.workMs, undefined, { signal });
      signal.throwIfAborted();
      applied.push(id);
      log.push(id);
      await options.onHandle?.(id);
    },
  });
  cleanup.push(async () => {
    await consumer.stop();
    await connection.close().catch(() => undefined);
    await store.close();
  });
  return { consumer, connection, applied, events, leases };
}

/**
 * A consumer whose path to the broker goes silent after the handshake (a partition, a frozen node),
 * before it opens its channel; stopped, and its store closed, after the test.
 */
async function unreachableConsumer(
  queue: string,
  store: MemoryStore | RedisStore,
  leases: ExclusiveLeases,
  options: { ttl: '1s' | '1500ms' },
): Promise<{ consumer: ExclusiveConsumer; events: ExclusiveConsumerEvent[] }> {
  const proxy = await startFaultProxy({ host: '127.0.0.1', port: broker.port });
  const connection = await connect(`amqp://guest:guest@127.0.0.1:${proxy.port}`);
  connection.on('error', () => undefined);
  proxy.blackhole();
  const events: ExclusiveConsumerEvent[] = [];
  const consumer = exclusiveConsumer({
    leases,
    store,
    connection,
    name: `consumer-${queue}`,
    queue,
    lease: { ttl: options.ttl },
    onEvent: (event) => events.push(event),
    handle: () => undefined,
  });
  cleanup.push(async () => {
    await consumer.stop();
    // The proxy's sockets destroyed, amqplib's close() of the connection never calls back.
    await proxy.close();
    await Promise.race([connection.close().catch(() => undefined), sleep(200)]);
    await store.close();
  });
  return { consumer, events };
}

/** `gc()`, made available to this process without a command-line flag. */
function garbageCollector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const waitUntil = async (what: string, done: () => boolean | Promise<boolean>, ms = 15_000) => {
  const started = performance.now();
  while (!(await done())) {
    if (performance.now() - started > ms) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
};

const ids = (from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => `m-${from + i}`);

describe('exclusiveConsumer on RabbitMQ and Redis', () => {
  it('one of two consumers consumes, in queue order; a message published twice is applied once', async () => {
    const queue = await queueWith(100, [10, 20, 30]);
    const log: string[] = [];
    const a = await member(queue, log);
    await waitUntil('a consumes', () => a.events.some((e) => e.type === 'consuming'));
    const b = await member(queue, log);
    await waitUntil('all applied', () => log.length >= 100);
    await waitUntil('queue empty', async () => (await depth(queue)) === 0);
    await sleep(200);
    expect(log).toEqual(ids(0, 100));
    expect(b.applied).toEqual([]);
    expect(a.events.filter((e) => e.type === 'duplicate')).toHaveLength(3);
  });

  it('a lost lease stops consuming at once; the standby takes every unacknowledged message, in order', async () => {
    const queue = await queueWith(60);
    const log: string[] = [];
    const a = await member(queue, log, { workMs: 20 });
    await waitUntil('a consumes', () => a.events.some((e) => e.type === 'consuming'));
    const b = await member(queue, log, { workMs: 20 });
    await waitUntil('a applied 20', () => a.applied.length >= 20);
    // Another process has the lease now, as far as the store knows: A's next renewal is refused.
    const key = storageKey('tollgate', 'lease', [`consumer-${queue}`]);
    await client.del(key);
    await waitUntil('a stopped', () => a.events.some((e) => e.type === 'stopped'));
    const appliedByA = a.applied.length;
    // A stopped on its own; it would now compete with B to lead again, and on a loaded machine
    // could win. Ending its loop leaves the free lease to the standby this test is about.
    await a.consumer.stop();
    await waitUntil('all applied', () => log.length >= 60, 20_000);
    await waitUntil('queue empty', async () => (await depth(queue)) === 0);
    await sleep(200);
    expect(log).toEqual(ids(0, 60));
    // A applied nothing after it stopped, and B went on exactly where A stopped.
    expect(a.applied.length).toBe(appliedByA);
    expect(b.applied).toEqual(ids(appliedByA, 60));
  });

  it('a lost lease returns the unacknowledged messages before the next holder can consume, however late the channel closes', async () => {
    const queue = await queueWith(60);
    const log: string[] = [];
    // A's channels close 300 ms after they are told to: a broker or a link slow to get there.
    const slowToClose = (connection: ChannelModel): AmqpConnection => ({
      createChannel: async () => {
        const channel = await connection.createChannel();
        const close = channel.close.bind(channel);
        channel.close = () => sleep(300).then(close);
        return channel;
      },
    });
    const a = await member(queue, log, { workMs: 20, wrap: slowToClose });
    await waitUntil('a consumes', () => a.events.some((e) => e.type === 'consuming'));
    const b = await member(queue, log, { workMs: 20, busyRetry: '10ms' });
    await waitUntil('a applied 20', () => a.applied.length >= 20);
    await client.del(storageKey('tollgate', 'lease', [`consumer-${queue}`]));
    await waitUntil('a stopped', () => a.events.some((e) => e.type === 'stopped'));
    await waitUntil('all applied', () => new Set(log).size >= 60, 20_000);
    await waitUntil('queue empty', async () => (await depth(queue)) === 0);
    await sleep(200);
    expect(log).toEqual(ids(0, 60));
    expect(b.applied).toEqual(ids(a.applied.length, 60));
  });

  it('renewals unconfirmed (Redis frozen): the consumer is cancelled within the lease, and order holds after', async () => {
    const queue = await queueWith(40);
    const log: string[] = [];
    const a = await member(queue, log, { workMs: 20 });
    await waitUntil('a applied 10', () => a.applied.length >= 10);
    const stoppedEvents = () => a.events.filter((e) => e.type === 'stopped').length;
    const pausedAt = performance.now();
    redis.pause();
    try {
      // The handler's own writes do not touch Redis: only the lease's renewals go unanswered.
      await waitUntil('a stopped', async () => stoppedEvents() > 0, 5_000);
      const stoppedAfterMs = performance.now() - pausedAt;
      const channel = await publisher.createChannel();
      const { consumerCount } = await channel.checkQueue(queue);
      await channel.close();
      // Lost at the signal's deadline, a margin before the store could let the lease (1.5 s) run
      // out, and the consumer gone from the queue with it.
      expect(stoppedAfterMs).toBeLessThan(1_500);
      expect(consumerCount).toBe(0);
    } finally {
      redis.resume();
    }
    await waitUntil('queue empty', async () => (await depth(queue)) === 0, 20_000);
    await waitUntil('all applied', () => new Set(log).size >= 40, 20_000);
    // In order. The one message whose record could not be written while Redis was frozen may be
    // handled again by the next term (the window an effect closes by checking the id itself):
    // this test's effect is an in-memory log, so only the order of first applications counts.
    expect([...new Set(log)]).toEqual(ids(0, 40));
    expect(log.length).toBeLessThanOrEqual(41);
  });

  it('a message whose ack was lost after it was applied is acknowledged on redelivery, not applied again', async () => {
    const queue = await queueWith(30);
    const log: string[] = [];
    let crashed = false;
    const a = await member(queue, log, {
      // A dies right after applying m-9, before its ack can reach the broker.
      onHandle: async (id) => {
        if (id !== 'm-9' || crashed) return;
        crashed = true;
        await a.connection.close();
      },
    });
    await waitUntil('a consumes', () => a.events.some((e) => e.type === 'consuming'));
    const b = await member(queue, log);
    await waitUntil('all applied', () => log.length >= 30, 20_000);
    await waitUntil('queue empty', async () => (await depth(queue)) === 0);
    await sleep(200);
    expect(log).toEqual(ids(0, 30));
    expect(b.events).toContainEqual(
      expect.objectContaining({ type: 'duplicate', messageId: 'm-9' }),
    );
  });

  it('leading while another consumer is still on the queue: waits for it, then consumes', async () => {
    const queue = await queueWith(10);
    const other = await publisher.createChannel();
    await other.consume(queue, () => undefined, { noAck: false });
    const log: string[] = [];
    const a = await member(queue, log);
    await waitUntil('busy', () => a.events.some((e) => e.type === 'queue-busy'));
    await sleep(300);
    expect(a.events.some((e) => e.type === 'consuming')).toBe(false);
    // Closing the other channel returns what it held; A then consumes from the head of the queue.
    await other.close();
    await waitUntil('all applied', () => log.length >= 10);
    expect(log).toEqual(ids(0, 10));
  });

  it('stopped while its take of the lease is on its way: stop() resolves, and it never consumes', async () => {
    const queue = await queueWith(5);
    const store = new SlowLockStore();
    const connection = await connect(broker.url);
    const events: ExclusiveConsumerEvent[] = [];
    const consumer = exclusiveConsumer({
      leases: new ExclusiveLeases(store),
      store,
      connection,
      name: `consumer-${queue}`,
      queue,
      lease: { ttl: '1500ms', storeTimeout: '5s' },
      onEvent: (event) => events.push(event),
      handle: () => undefined,
    });
    cleanup.push(async () => {
      await consumer.stop();
      await connection.close().catch(() => undefined);
      await store.close();
    });
    await store.taking;
    // A stop as the take comes back: a standby stopped just after the holder released the lease.
    const stopping = consumer.stop();
    store.answer();
    const outcome = await Promise.race([
      stopping.then(() => 'stopped'),
      sleep(3_000).then(() => 'still running'),
    ]);
    expect(outcome).toBe('stopped');
    expect(events.filter((e) => e.type === 'consuming')).toEqual([]);
    expect(await depth(queue)).toBe(5);
  });

  it('stopped while its channel is being opened on an unreachable broker: stop() resolves', async () => {
    const queue = await queueWith(5);
    const store = new MemoryStore();
    const leases = new ExclusiveLeases(store);
    // The broker stops answering after the handshake: the consumer's channel.open gets no reply.
    const { consumer } = await unreachableConsumer(queue, store, leases, { ttl: '1500ms' });
    await sleep(300);
    const outcome = await Promise.race([
      consumer.stop().then(() => 'stopped'),
      sleep(3_000).then(() => 'still running'),
    ]);
    expect(outcome).toBe('stopped');
    // The lease was given back: another process takes it at once.
    expect(await leases.tryAcquire(`consumer-${queue}`, { ttl: '1500ms' })).toBeDefined();
  });

  it('a holder that cannot reach the broker gives the lease up: a standby that can consumes', async () => {
    const queue = await queueWith(10);
    const store = new RedisStore({ url: redis.url });
    // A's path to the broker goes silent (a partition, a frozen node) before it opens its channel.
    const { events } = await unreachableConsumer(queue, store, new ExclusiveLeases(store), {
      ttl: '1500ms',
    });
    await waitUntil(
      'a leads',
      async () =>
        (await client.exists(storageKey('tollgate', 'lease', [`consumer-${queue}`]))) === 1,
    );
    const log: string[] = [];
    const b = await member(queue, log);
    // A's connection is alive as far as amqplib knows (heartbeats take a minute to say otherwise).
    await waitUntil('b consumes everything', () => log.length >= 10, 20_000);
    expect(log).toEqual(ids(0, 10));
    expect(b.applied).toEqual(ids(0, 10));
    expect(events.filter((e) => e.type === 'consuming')).toEqual([]);
  });

  it('a holder that cannot reach the broker gives the lease up within its ttl, garbage collections or not', async () => {
    const queue = await queueWith(1);
    const store = new RedisStore({ url: redis.url });
    const failed: number[] = [];
    const leases = new ExclusiveLeases(store, {
      onEvent: (event) => {
        if (event.type === 'lease-work-failed') failed.push(performance.now());
      },
    });
    const started = performance.now();
    await unreachableConsumer(queue, store, leases, { ttl: '1s' });
    // Whatever ends the wait for the broker must outlive a collection: a signal held only weakly
    // (AbortSignal.timeout inside AbortSignal.any) is collected and never fires.
    const gc = garbageCollector();
    const collecting = setInterval(gc, 50);
    try {
      await waitUntil('a gives the lease up', () => failed.length > 0, 5_000);
    } finally {
      clearInterval(collecting);
    }
    expect(failed[0]! - started).toBeLessThan(2_500);
  });

  it('the connection drops and comes back (amqplib recovery): consuming resumes, in order, nothing lost', async () => {
    const queue = await queueWith(60);
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: broker.port });
    const connection = (await connect(`amqp://guest:guest@127.0.0.1:${proxy.port}`, {
      recovery: { initialDelay: 50, maxDelay: 200 },
    } as never)) as unknown as ChannelModel;
    connection.on('error', () => undefined);
    const store = new RedisStore({ url: redis.url });
    const leases = new ExclusiveLeases(store);
    const events: ExclusiveConsumerEvent[] = [];
    const log: string[] = [];
    const consumer = exclusiveConsumer({
      leases,
      store,
      connection,
      name: `consumer-${queue}`,
      queue,
      prefetch: 5,
      lease: { ttl: '1500ms' },
      onEvent: (event) => events.push(event),
      handle: async (message) => {
        await sleep(20);
        log.push((JSON.parse(message.content.toString()) as { id: string }).id);
      },
    });
    cleanup.push(async () => {
      await consumer.stop();
      await proxy.close();
      await Promise.race([connection.close().catch(() => undefined), sleep(200)]);
      await store.close();
    });
    await waitUntil('20 applied', () => log.length >= 20);
    await proxy.dropFor(500);
    await waitUntil('all applied', () => new Set(log).size >= 60, 20_000);
    await waitUntil('queue empty', async () => (await depth(queue)) === 0);
    expect([...new Set(log)]).toEqual(ids(0, 60));
    expect(events.filter((e) => e.type === 'consuming').length).toBeGreaterThanOrEqual(2);
  });

  it('a handler that fails stops the term: the message and those after it come back in order', async () => {
    const queue = await queueWith(20);
    const log: string[] = [];
    let failures = 0;
    const a = await member(queue, log, {
      onHandle: (id) => {
        if (id === 'm-5' && failures === 0) {
          failures += 1;
          log.pop();
          throw new Error('downstream unavailable');
        }
      },
    });
    await waitUntil('all applied', () => log.length >= 20, 20_000);
    expect(log).toEqual(ids(0, 20));
    expect(a.events).toContainEqual(
      expect.objectContaining({ type: 'stopped', reason: 'downstream unavailable' }),
    );
  });

  it('refuses options it cannot run with: TOLLGATE_INVALID_CONSUMER', () => {
    const store = new MemoryStore();
    const leases = new ExclusiveLeases(store);
    const connection: AmqpConnection = { createChannel: () => Promise.reject(new Error('unused')) };
    const base = { leases, store, connection, name: 'n', queue: 'q', handle: () => undefined };
    for (const bad of [
      { ...base, queue: '' },
      { ...base, handle: 'x' },
      { ...base, prefetch: 0 },
      { ...base, connection: {} },
    ]) {
      expect(() => exclusiveConsumer(bad as never)).toThrow(
        expect.objectContaining({ code: 'TOLLGATE_INVALID_CONSUMER' }),
      );
    }
    expect(() => exclusiveConsumer({ ...base, lease: { ttl: '1s', renewEvery: '2s' } })).toThrow(
      TollgateConfigError,
    );
    void store.close();
  });

  it('takes an amqplib connection as it is', () => {
    const fits: AmqpConnection = publisher;
    expect(typeof fits.createChannel).toBe('function');
  });
});
