import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findFreePort, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startFaultProxy, type FaultProxy } from '../helpers/tcp-proxy.js';

const RETRY_MS = 50;

/**
 * Resolves with the event's arguments, or rejects after `ms`. Unlike events.once(), an 'error'
 * emitted first does not reject: resets are expected here, and callers collect errors themselves.
 */
function waitFor(emitter: Redis | Socket, event: string, ms = 2_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    function onEvent(...args: unknown[]): void {
      clearTimeout(timer);
      resolve(args);
    }
    emitter.once(event, onEvent);
  });
}

/** Rejects with `connect ECONNREFUSED ...` or resolves once a raw TCP connection is open. */
function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

/** Everything `socket` receives within `ms`, as text. */
async function received(socket: Socket, ms: number): Promise<string> {
  let text = '';
  const collect = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
  };
  socket.on('data', collect);
  await sleep(ms);
  socket.off('data', collect);
  return text;
}

/** Resolves true if `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, sleep(ms).then(() => false)]);
}

async function until(condition: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(10);
  }
}

describe('startFaultProxy', () => {
  let server: RedisServer;
  let proxy: FaultProxy;
  let direct: Redis;
  const clients: Redis[] = [];
  const sockets: Socket[] = [];

  /**
   * A client through the proxy that fails fast (no offline queue, no retries per command) but
   * reconnects every RETRY_MS, as an application's client would. Resolves once it is ready.
   */
  async function client(extra: RedisOptions = {}): Promise<{ redis: Redis; errors: Error[] }> {
    const redis = new Redis({
      host: proxy.host,
      port: proxy.port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      retryStrategy: () => RETRY_MS,
      ...extra,
    });
    clients.push(redis);
    const errors: Error[] = [];
    redis.on('error', (error: Error) => errors.push(error));
    await waitFor(redis, 'ready');
    return { redis, errors };
  }

  beforeAll(async () => {
    server = await startRedis();
    direct = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 0 });
    direct.on('error', () => undefined);
  });

  afterAll(async () => {
    direct?.disconnect();
    await server?.stop();
  });

  beforeEach(async () => {
    proxy = await startFaultProxy({ host: server.host, port: server.port });
  });

  afterEach(async () => {
    for (const redis of clients.splice(0)) redis.disconnect();
    for (const socket of sockets.splice(0)) socket.destroy();
    await proxy.close();
  });

  it('forwards commands and counts its connections', async () => {
    expect(proxy.host).toBe('127.0.0.1');
    expect(proxy.port).not.toBe(server.port);
    expect(proxy.url).toBe(`redis://127.0.0.1:${proxy.port}`);
    expect(proxy.connections).toBe(0);

    const { redis } = await client();
    expect(await redis.ping()).toBe('PONG');
    expect(await redis.set('proxy:plain', 'v')).toBe('OK');
    expect(await redis.get('proxy:plain')).toBe('v');
    expect(await direct.get('proxy:plain')).toBe('v');
    expect(proxy.connections).toBe(1);

    // A graceful QUIT travels through both halves and closes the pair.
    await redis.quit();
    await until(() => proxy.connections === 0);
  });

  it('delay() adds latency to each direction and keeps bytes in order', async () => {
    const { redis } = await client();
    proxy.delay(200);
    let started = Date.now();
    expect(await redis.ping()).toBe('PONG');
    // 200 ms on the way there and 200 ms on the way back.
    expect(Date.now() - started).toBeGreaterThanOrEqual(395);

    proxy.delay(0);
    started = Date.now();
    expect(await redis.ping()).toBe('PONG');
    expect(Date.now() - started).toBeLessThan(100);

    // A chunk sent under a long delay still arrives before one sent after the delay was lowered:
    // Redis answers in the order it receives, so a reordering would put ECHO's reply first.
    const socket = await rawConnect(proxy.port);
    sockets.push(socket);
    proxy.delay(150);
    socket.write('PING\r\n');
    await sleep(20);
    proxy.delay(0);
    socket.write('ECHO after\r\n');
    expect(await received(socket, 400)).toBe('+PONG\r\n$5\r\nafter\r\n');
  });

  it('blackhole() silences every connection; heal() forwards again but a connection that lost bytes is out of step', async () => {
    const { redis } = await client();
    proxy.blackhole();

    // A command sent into the blackhole is lost, not delayed: Redis never runs it.
    const lost = redis.set('proxy:blackholed', 'lost');
    expect(await settlesWithin(lost, 500)).toBe(false);

    // New connections are accepted, but nothing passes either way.
    const socket = await rawConnect(proxy.port);
    sockets.push(socket);
    socket.write('PING\r\n');
    expect(await received(socket, 100)).toBe('');
    expect(proxy.connections).toBe(2);

    proxy.heal();
    // The raw socket's first PING was dropped, so it gets exactly one PONG for the second.
    socket.write('PING\r\n');
    expect(await received(socket, 100)).toBe('+PONG\r\n');

    // ioredis pairs replies with commands in order. Its SET never reached Redis, so the reply to
    // the next command (GET, nil) resolves the SET, and the GET waits for a reply that never
    // comes. Only a reconnect brings such a connection back in step.
    const next = redis.get('proxy:missing');
    expect(await lost).toBeNull();
    expect(await direct.exists('proxy:blackholed')).toBe(0);
    expect(await settlesWithin(next, 200)).toBe(false);

    const ready = waitFor(redis, 'ready');
    redis.disconnect(true);
    await expect(next).rejects.toThrow(/Connection is closed|max retries/i);
    await ready;
    expect(await redis.ping()).toBe('PONG');

    // A fresh connection after heal() is in step from the start.
    const fresh = await client();
    expect(await fresh.redis.ping()).toBe('PONG');
  });

  it('reset() sends a TCP RST: the client sees ECONNRESET and reconnects', async () => {
    const { redis, errors } = await client();
    proxy.delay(100);
    // maxRetriesPerRequest: 0, so the command in flight is not resent on the new connection.
    const inFlight = expect(redis.ping()).rejects.toThrow(/max retries per request/i);
    await sleep(20);

    const closed = waitFor(redis, 'close');
    const ready = waitFor(redis, 'ready');
    proxy.reset();
    proxy.delay(0);
    await closed;
    expect(errors.map((error) => (error as NodeJS.ErrnoException).code)).toContain('ECONNRESET');
    await inFlight;
    // No offline queue: until the reconnect, commands fail at once.
    await expect(redis.ping()).rejects.toThrow(/isn't writeable/);

    const started = Date.now();
    await ready;
    // The retry delay plus a connect and a ready check through the proxy.
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await redis.ping()).toBe('PONG');
    expect(proxy.connections).toBe(1);
  });

  it('refuse() makes connects fail with ECONNREFUSED and heal() listens again on the same port', async () => {
    const { redis, errors } = await client();
    const port = proxy.port;
    const closed = waitFor(redis, 'close');
    proxy.refuse();
    await closed;
    expect(proxy.connections).toBe(0);

    await expect(rawConnect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const refused = new Redis({
      host: proxy.host,
      port,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    clients.push(refused);
    const refusedErrors: Error[] = [];
    refused.on('error', (error: Error) => refusedErrors.push(error));
    // Without retries, connect() rejects with a generic message; the cause is in the 'error' event.
    await expect(refused.connect()).rejects.toThrow('Connection is closed.');
    expect(refusedErrors.map((error) => error.message)).toEqual([
      `connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
    // Meanwhile the reconnecting client is refused on every attempt.
    await sleep(3 * RETRY_MS);
    expect(errors.map((error) => error.message)).toContain(
      `connect ECONNREFUSED 127.0.0.1:${port}`,
    );

    const ready = waitFor(redis, 'ready');
    proxy.heal();
    expect(proxy.port).toBe(port);
    // The listener binds on the next tick, before any connect this process starts after heal().
    const socket = await rawConnect(port);
    sockets.push(socket);
    await ready;
    expect(await redis.ping()).toBe('PONG');
  });

  it('refuse() and heal() in quick succession end up listening once, on the same port', async () => {
    const port = proxy.port;
    for (let round = 0; round < 3; round += 1) {
      proxy.refuse();
      proxy.heal();
    }
    await sleep(20);
    const { redis } = await client();
    expect(await redis.ping()).toBe('PONG');
    expect(proxy.port).toBe(port);
  });

  it('dropFor() resets, refuses for the given time, then heals', async () => {
    const { redis, errors } = await client();
    const started = Date.now();
    const drop = proxy.dropFor(700);
    await waitFor(redis, 'close');
    await expect(redis.get('proxy:drop')).rejects.toThrow(/isn't writeable/);
    await expect(rawConnect(proxy.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await drop;
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    const socket = await rawConnect(proxy.port);
    sockets.push(socket);
    if (redis.status !== 'ready') await waitFor(redis, 'ready');
    // The client is back within about one retry interval of the heal.
    expect(Date.now() - started).toBeLessThan(700 + 500);
    expect(await redis.ping()).toBe('PONG');
    const codes = errors.map((error) => (error as NodeJS.ErrnoException).code);
    expect(codes[0]).toBe('ECONNRESET');
    expect(codes.slice(1).every((code) => code === 'ECONNREFUSED')).toBe(true);
  });

  it('a target that refuses reaches the client as a reset, without an unhandled error', async () => {
    const deadPort = await findFreePort();
    const toNowhere = await startFaultProxy({ host: '127.0.0.1', port: deadPort });
    try {
      const socket = await rawConnect(toNowhere.port);
      sockets.push(socket);
      const [error] = (await waitFor(socket, 'error')) as [NodeJS.ErrnoException];
      expect(error.code).toBe('ECONNRESET');
      await until(() => toNowhere.connections === 0);
    } finally {
      await toNowhere.close();
    }
  });

  it('close() ends every connection and frees the port', async () => {
    const { redis } = await client();
    const socket = await rawConnect(proxy.port);
    sockets.push(socket);
    const port = proxy.port;
    const clientClosed = waitFor(redis, 'close');
    const socketClosed = waitFor(socket, 'close');
    await proxy.close();
    await Promise.all([clientClosed, socketClosed]);
    expect(proxy.connections).toBe(0);
    // Idempotent, and the proxy refuses to be used again.
    await proxy.close();
    expect(() => proxy.heal()).toThrow(/closed/);
    redis.disconnect();

    // Nothing listens any more: the port can be bound again.
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ port, host: '127.0.0.1' }, resolve);
    });
    await new Promise((resolve) => probe.close(resolve));

    // options.port picks the port, so a proxy can come back where clients expect it.
    proxy = await startFaultProxy({ host: server.host, port: server.port }, { port });
    expect(proxy.port).toBe(port);
    expect(await (await client()).redis.ping()).toBe('PONG');
  });

  it('close() during dropFor() settles it without listening again', async () => {
    const port = proxy.port;
    const drop = proxy.dropFor(5_000);
    await proxy.close();
    expect(await settlesWithin(drop, 100)).toBe(true);
    await expect(rawConnect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
