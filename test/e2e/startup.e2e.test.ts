import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

import { Controller, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { idempotent } from '../../src/express.js';
import {
  RedisStore,
  StoreUnavailableError,
  TollgateConfigError,
  waitForStore,
} from '../../src/index.js';
import { hidePassword } from '../../src/stores/redis/connection.js';
import { Idempotent, TollgateModule } from '../../src/nest.js';
import { request } from '../helpers/http.js';
import { findFreePort, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * A store that cannot be reached when the app starts: the wait is bounded, one line says where
 * the store is (password hidden) and why, and the sample exits non-zero rather than hang.
 */
const closeLater: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closeLater.splice(0).reverse()) await close().catch(() => undefined);
});

function closedPortStore(port: number): RedisStore {
  const store = new RedisStore({ url: `redis://app:s3cret@127.0.0.1:${port}/0` });
  closeLater.push(() => store.close());
  return store;
}

describe('waitForStore', () => {
  it('logs one line naming the store without its password and the reason, then gives up in time', async () => {
    const store = closedPortStore(await findFreePort());
    const lines: string[] = [];
    const started = performance.now();
    const readiness = await waitForStore(store, {
      timeout: '1500ms',
      log: (line) => lines.push(line),
    });
    const elapsed = performance.now() - started;
    expect(readiness.ready).toBe(false);
    expect(elapsed).toBeGreaterThanOrEqual(1_400);
    expect(elapsed).toBeLessThan(3_000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/redis:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/0/);
    expect(lines[0]).toContain('ECONNREFUSED');
    expect(lines.join('\n')).not.toContain('s3cret');
    if (!readiness.ready) {
      expect(readiness.message).toContain('ECONNREFUSED');
      expect(readiness.message).toContain('docs/errors/TOLLGATE_STORE_UNAVAILABLE.md');
      expect(readiness.message).not.toContain('s3cret');
    }
  });

  it('rejects with StoreUnavailableError when the store is required', async () => {
    const store = closedPortStore(await findFreePort());
    await expect(
      waitForStore(store, { timeout: '600ms', required: true, log: () => undefined }),
    ).rejects.toThrow(StoreUnavailableError);
  });

  it('says nothing when the store connects at once', async () => {
    const redis = await startRedis();
    closeLater.push(() => redis.stop());
    const store = new RedisStore({ url: redis.url });
    closeLater.push(() => store.close());
    const lines: string[] = [];
    expect(await waitForStore(store, { log: (line) => lines.push(line) })).toEqual({ ready: true });
    expect(lines).toEqual([]);
  });

  it('names the option when the timeout is not a duration', async () => {
    const store = closedPortStore(await findFreePort());
    await expect(waitForStore(store, { timeout: 'soon' as never })).rejects.toThrow(
      /waitForStore\.timeout/,
    );
  });
});

@Controller('orders')
class OrdersController {
  @Post()
  @Idempotent()
  create(): unknown {
    return { ok: true };
  }
}

describe('where the store is, in log lines', () => {
  it.each([
    ['redis://app:s3cret@127.0.0.1:6379/0', 'redis://app:***@127.0.0.1:6379/0'],
    ['redis://:s3cret@127.0.0.1:6379', 'redis://:***@127.0.0.1:6379'],
    ['redis://:p@s3cret@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'],
    ['rediss://u:p%40s3cret@redis.example:6380', 'rediss://u:***@redis.example:6380'],
    ['redis://127.0.0.1:6379/0?password=s3cret', 'redis://127.0.0.1:6379/0'],
    ['//:s3cret@127.0.0.1:6379', 'redis://:***@127.0.0.1:6379'],
    ['redis://user@127.0.0.1:6379', 'redis://user@127.0.0.1:6379'],
  ])('shows %s as %s', (url, shown) => {
    expect(hidePassword(url)).toBe(shown);
  });

  it('names the default for a missing URL instead of failing', () => {
    const store = new RedisStore({
      url: undefined as unknown as string,
      options: { lazyConnect: true },
    });
    closeLater.push(() => store.close());
    expect(store.location).toBe('redis://127.0.0.1:6379');
  });
});

describe('waiting callers', () => {
  it('each wait for their own time, the store asked once', async () => {
    const redis = await stoppedRedis();
    const store = new RedisStore({ url: redis.url });
    closeLater.push(() => store.close());
    const lines: string[] = [];
    const log = (line: string): number => lines.push(line);
    const short = waitForStore(store, { timeout: '600ms', log });
    const long = waitForStore(store, { timeout: '10s', required: true, log });
    expect((await short).ready).toBe(false);
    await restartLater(redis, 300);
    expect(await long).toEqual({ ready: true });
    expect(lines.filter((line) => line.includes('waiting up to'))).toHaveLength(1);
    expect(store.client.listenerCount('ready')).toBeLessThan(5);
  });

  it('connects a lazyConnect client when asked whether it is ready', async () => {
    const redis = await startRedis();
    closeLater.push(() => redis.stop());
    const store = new RedisStore({ url: redis.url, options: { lazyConnect: true } });
    closeLater.push(() => store.close());
    expect(await waitForStore(store, { timeout: '3s' })).toEqual({ ready: true });
  });
});

describe('idempotent() and throttle() options', () => {
  it('refuse a wait timeout that is not a duration when created, not later in a promise', () => {
    const store = closedPortStore(1);
    expect(() => idempotent({ store, waitForStore: { timeout: 'soon' as never } })).toThrow(
      TollgateConfigError,
    );
  });

  it('never hold a request for ever, even when given required (which they ignore)', async () => {
    const store = closedPortStore(await findFreePort());
    const app = express();
    const waitFor = { timeout: '500ms', required: true };
    app.post('/orders', idempotent({ store, waitForStore: waitFor as never }), (_req, res) => {
      res.status(201).end();
    });
    const server: Server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closeLater.push(() => new Promise((done) => server.close(done)));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const response = await request(baseUrl, 'POST', '/orders', {
      headers: { 'idempotency-key': 'k1' },
    });
    // The wait ended; the store is still away, so the route's policy answers: 503, not a hang.
    expect(response.status).toBe(503);
  });
});

describe('TollgateModule at start-up', () => {
  async function createApp(
    store: RedisStore,
    waitFor: { timeout: string; required?: boolean },
  ): Promise<{ app: INestApplication; warnings: string[] }> {
    @Module({
      imports: [TollgateModule.forRoot({ store, waitForStore: waitFor as never })],
      controllers: [OrdersController],
    })
    class AppModule {}
    const warnings: string[] = [];
    const logger = {
      log: () => undefined,
      error: (message: unknown) => warnings.push(String(message)),
      warn: (message: unknown) => warnings.push(String(message)),
      debug: () => undefined,
      verbose: () => undefined,
    };
    const app = await NestFactory.create(AppModule, { logger });
    closeLater.push(() => app.close());
    return { app, warnings };
  }

  it('waits for the store, logs one line, and starts anyway when it is not required', async () => {
    const store = closedPortStore(await findFreePort());
    const { app, warnings } = await createApp(store, { timeout: '1200ms' });
    const started = performance.now();
    await app.init();
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_100);
    const lines = warnings.filter((line) => line.includes('waiting up to'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('ECONNREFUSED');
    expect(lines[0]).toMatch(/redis:\/\/app:\*\*\*@127\.0\.0\.1/);
  });

  it('fails the start when the store is required and stays unreachable', async () => {
    const store = closedPortStore(await findFreePort());
    const closed = vi.spyOn(store, 'close');
    const { app } = await createApp(store, { timeout: '800ms', required: true });
    await expect(app.init()).rejects.toThrow(
      /cannot reach the store redis at redis:\/\/app:\*\*\*@/,
    );
    // No shutdown hook runs for an app that failed to start: the store closed its own connection.
    expect(closed).toHaveBeenCalledTimes(1);
  });

  it('serves the first request once a late Redis connects, instead of a 503', async () => {
    const redis = await stoppedRedis();
    const store = new RedisStore({ url: redis.url });
    closeLater.push(() => store.close());
    const redisStarting = restartLater(redis, 700);
    const { app } = await createApp(store, { timeout: '10s' });
    await app.listen(0, '127.0.0.1');
    await redisStarting;
    const { port: appPort } = app.getHttpServer().address() as AddressInfo;
    const response = await request(`http://127.0.0.1:${appPort}`, 'POST', '/orders', {
      headers: { 'idempotency-key': 'k1' },
    });
    expect(response.status).toBe(201);
  });
});

describe('idempotent() at start-up', () => {
  it('holds the first requests while the store connects, then serves them', async () => {
    const redis = await stoppedRedis();
    const store = new RedisStore({ url: redis.url });
    closeLater.push(() => store.close());
    const app = express();
    app.post('/orders', idempotent({ store, waitForStore: { timeout: '10s' } }), (_req, res) => {
      res.status(201).json({ ok: true });
    });
    const server: Server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closeLater.push(() => new Promise((done) => server.close(done)));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const answered = request(baseUrl, 'POST', '/orders', { headers: { 'idempotency-key': 'k1' } });
    await restartLater(redis, 700);
    expect((await answered).status).toBe(201);
  });
});

describe('the sample with REDIS_URL at a closed port', () => {
  it.each([
    ['Nest', 'sample-app/dist/sample-app/src/main.js'],
    ['Nest on Fastify', 'sample-app/dist/sample-app/src/fastify/main.js'],
    ['Express', 'sample-app/dist/sample-app/src/express/main.js'],
  ])(
    '%s: prints the URL and the error, and exits non-zero within 15 s',
    async (_name, entry) => {
      const port = await findFreePort();
      const started = performance.now();
      const child = spawn(process.execPath, [resolve(entry)], {
        env: {
          ...process.env,
          REDIS_URL: `redis://app:s3cret@127.0.0.1:${port}`,
          PORT: String(await findFreePort()),
          NO_COLOR: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      closeLater.push(async () => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      // The sample waits 10 s for its store; the rest is a process start, slow on a busy machine.
      expect(performance.now() - started).toBeLessThan(20_000);
      expect(code).not.toBe(0);
      expect(output).toMatch(
        new RegExp(`cannot reach the store redis at redis://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}`),
      );
      expect(output).toContain('ECONNREFUSED');
      expect(output).not.toContain('s3cret');
      expect(output).not.toMatch(/^\s+at /m);
      expect(output.match(/waiting up to/g)).toHaveLength(1);
    },
    20_000,
  );
});

/** A redis-server that is down (killed), to be restarted on its port: a store that connects late. */
async function stoppedRedis(): Promise<RedisServer> {
  const redis = await startRedis();
  closeLater.push(() => redis.stop());
  await redis.kill();
  return redis;
}

async function restartLater(redis: RedisServer, delayMs: number): Promise<void> {
  await new Promise((done) => setTimeout(done, delayMs));
  await redis.restart();
}
