/**
 * The Express 5 targets: `express.json()`, then `POST /orders` with the protection as route
 * middleware, answering 201 `{ id, item, amount }`. Each peer is set up as its README shows.
 */
import { once } from 'node:events';

import express from 'express';
import { Redis } from 'ioredis';

import { HIGH_LIMIT, REFUSED_LIMIT } from '../targets.mjs';
import { tollgateMetrics } from './otel.mjs';
import { SkipTarget } from './skip.mjs';

let nextId = 1;
function createOrder(req, res) {
  res.status(201).json({ id: `ord_${nextId++}`, item: req.body.item, amount: req.body.amount });
}

async function readyClient(url, options = {}) {
  const client = new Redis(url, options);
  await new Promise((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  return client;
}

async function tollgateStore(redisUrl) {
  const { RedisStore } = await import('tollgate');
  const store = new RedisStore({ url: redisUrl });
  await store.ready();
  return store;
}

async function tollgateIdempotent(redisUrl, onEvent) {
  const { idempotent } = await importTollgateExpress();
  const store = await tollgateStore(redisUrl);
  return idempotent({ store, strategy: 'key', ...(onEvent ? { onEvent } : {}) });
}

async function importTollgateExpress() {
  try {
    return await import('tollgate/express');
  } catch (error) {
    if (error?.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
      throw new SkipTarget('the built library has no tollgate/express entry point yet');
    }
    throw error;
  }
}

/** Each builder returns the route middleware that goes before `createOrder`. */
const builders = {
  'express-bare': async () => [],

  'tollgate-express-idempotency': async ({ redisUrl }) => [await tollgateIdempotent(redisUrl)],
  'tollgate-express-idempotency-otel': async ({ redisUrl }) => [
    await tollgateIdempotent(redisUrl, await tollgateMetrics()),
  ],
  // Same app; only the workload differs (one key for the whole run).
  'tollgate-express-replay': async ({ redisUrl }) => [await tollgateIdempotent(redisUrl)],
  // A client over its limit (every request after the first is refused), with the block cache on.
  'tollgate-express-throttle-refused': async ({ redisUrl }) => {
    const { throttle } = await importTollgateExpress();
    const store = await tollgateStore(redisUrl);
    if (typeof store.invalidations !== 'function') {
      throw new SkipTarget('the built library has no cache of refused clients (blockCache) yet');
    }
    const limits = { default: { limit: REFUSED_LIMIT, ttl: '1h', algorithm: 'fixed-window' } };
    return [throttle({ store, limits, blockCache: true })];
  },
  // The same client over its limit on express-rate-limit.
  'express-rate-limit-refused': async ({ redisUrl }) => {
    const { rateLimit } = await import('express-rate-limit');
    const { RedisStore } = await import('rate-limit-redis');
    const client = await readyClient(redisUrl);
    return [
      rateLimit({
        windowMs: 3_600_000,
        limit: REFUSED_LIMIT,
        standardHeaders: 'draft-8',
        legacyHeaders: false,
        store: new RedisStore({
          sendCommand: (command, ...args) => client.call(command, ...args),
        }),
      }),
    ];
  },
  // The same replay, answered from the process's cache of completed results.
  'tollgate-express-replay-cached': async ({ redisUrl }) => {
    const { idempotent } = await importTollgateExpress();
    const store = await tollgateStore(redisUrl);
    if (typeof store.invalidations !== 'function') {
      throw new SkipTarget('the built library has no cache of completed results (resultCache) yet');
    }
    return [idempotent({ store, strategy: 'key', resultCache: true })];
  },

  'tollgate-express-throttle': async ({ redisUrl }) => {
    const tollgate = await importTollgateExpress();
    if (typeof tollgate.throttle !== 'function') {
      throw new SkipTarget(
        'tollgate/express does not export throttle() yet (rate limiting for Express is still being built)',
      );
    }
    const store = await tollgateStore(redisUrl);
    // The fixed window, as every peer in the table counts.
    const limits = { default: { limit: HIGH_LIMIT, ttl: '1m', algorithm: 'fixed-window' } };
    return [tollgate.throttle({ store, limits })];
  },

  'express-rate-limit': async ({ redisUrl }) => {
    const { rateLimit } = await import('express-rate-limit');
    const { RedisStore } = await import('rate-limit-redis');
    const client = await readyClient(redisUrl);
    return [
      rateLimit({
        windowMs: 60_000,
        limit: HIGH_LIMIT,
        standardHeaders: 'draft-8',
        legacyHeaders: false,
        store: new RedisStore({
          sendCommand: (command, ...args) => client.call(command, ...args),
        }),
      }),
    ];
  },

  'rate-limiter-flexible': async ({ redisUrl }) => {
    const { RateLimiterRedis } = await import('rate-limiter-flexible');
    // The library's README: no offline queue, so a dead Redis fails fast.
    const client = await readyClient(redisUrl, { enableOfflineQueue: false });
    const limiter = new RateLimiterRedis({
      storeClient: client,
      keyPrefix: 'rlflx',
      points: HIGH_LIMIT,
      duration: 60,
    });
    return [
      (req, res, next) => {
        limiter.consume(req.ip).then(
          () => next(),
          () => res.status(429).send('Too Many Requests'),
        );
      },
    ];
  },

  'express-idempotency': async ({ redisUrl }) => {
    const { idempotency, getSharedIdempotencyService } = await import('express-idempotency');
    const { default: RedisAdapter } = (await import('express-idempotency-redis-adapter')).default;
    const dataAdapter = new RedisAdapter({ connectionConfig: { url: redisUrl } });
    await dataAdapter.connect();
    const middleware = idempotency({ dataAdapter });
    // The library calls next() even after it replayed: the handler must ask whether it did.
    const skipHits = (req, _res, next) => {
      if (!getSharedIdempotencyService().isHit(req)) next();
    };
    return [middleware, skipHits];
  },
};

/** Builds and starts the Express app of `targetId`; resolves with its HTTP server, listening. */
export async function startExpress(targetId, context) {
  const build = builders[targetId];
  if (!build) throw new Error(`no Express app for target ${targetId}`);
  const middleware = await build(context);
  const app = express();
  app.use(express.json());
  app.post('/orders', ...middleware, createOrder);
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export const expressTargets = Object.keys(builders);
