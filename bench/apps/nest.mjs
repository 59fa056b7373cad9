/**
 * The NestJS 12 targets. Plain ESM has no decorator syntax, so decorators are applied with
 * `Reflect.decorate`, exactly as the TypeScript compiler emits them. Every app has one controller
 * with `POST /orders` that answers 201 `{ id, item, amount }`; only the protection differs.
 */
import 'reflect-metadata';

import {
  Body,
  Controller,
  HttpCode,
  Module,
  Post,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';

import { HIGH_LIMIT, REFUSED_LIMIT } from '../targets.mjs';
import { tollgateMetrics } from './otel.mjs';
import { SkipTarget } from './skip.mjs';

/** Applies method decorators (and `@Body()` on the first parameter) like `tsc` does. */
function decorateMethod(cls, name, decorators) {
  const proto = cls.prototype;
  Body()(proto, name, 0);
  const descriptor = Object.getOwnPropertyDescriptor(proto, name);
  const decorated = Reflect.decorate(decorators, proto, name, descriptor);
  Object.defineProperty(proto, name, decorated ?? descriptor);
}

/** A fresh `OrdersController` with the given extra decorators on `create` and on the class. */
function ordersController({ method = [], controller = [] } = {}) {
  let nextId = 1;
  class OrdersController {
    create(body) {
      return { id: `ord_${nextId++}`, item: body.item, amount: body.amount };
    }
  }
  decorateMethod(OrdersController, 'create', [Post(), HttpCode(201), ...method]);
  return Reflect.decorate([Controller('orders'), ...controller], OrdersController);
}

function appModule({ imports = [], providers = [], controllers }) {
  class AppModule {}
  return Reflect.decorate([Module({ imports, providers, controllers })], AppModule);
}

/** An ioredis client as the peers' docs create it, connected before the app serves. */
async function readyClient(url) {
  const client = new Redis(url);
  await new Promise((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  return client;
}

async function tollgateNest() {
  const nest = await import('tollgate/nest');
  return nest;
}

async function tollgateStore(redisUrl) {
  const { RedisStore } = await import('tollgate');
  const store = new RedisStore({ url: redisUrl });
  await store.ready();
  return store;
}

/** PostgresStore on a pg pool; skips the target until the built library has tollgate/postgres. */
async function postgresStore(databaseUrl) {
  let postgres;
  try {
    postgres = await import('tollgate/postgres');
  } catch (error) {
    throw new SkipTarget(`tollgate/postgres could not be loaded: ${error?.message ?? error}`);
  }
  const { default: pg } = await import('pg');
  // pg's default pool size (10), as an app that creates a Pool without options has.
  const pool = new pg.Pool({ connectionString: databaseUrl });
  pool.on('error', () => undefined);
  const store = new postgres.PostgresStore({ pool });
  await store.ensureSchema();
  await store.ready();
  return store;
}

/** Skips a Tollgate rate-limit target until tollgate/nest exports `Throttle`. */
async function tollgateThrottle() {
  const nest = await tollgateNest();
  if (typeof nest.Throttle !== 'function') {
    throw new SkipTarget(
      'tollgate/nest does not export Throttle yet (rate limiting for Nest is still being built in src/nest/throttle*)',
    );
  }
  return nest;
}

const builders = {
  'nest-bare': async () => appModule({ controllers: [ordersController()] }),

  // The cost of Nest's interceptor pipeline itself (rxjs `defer`/`mergeAll`, an execution context,
  // `lastValueFrom`), which every interceptor-based library pays on every request.
  'nest-noop-interceptor': async () => {
    class NoopInterceptor {
      intercept(_context, next) {
        return next.handle();
      }
    }
    return appModule({
      controllers: [ordersController({ method: [UseInterceptors(NoopInterceptor)] })],
    });
  },

  // The same for a guard, the hook @nestjs/throttler and Tollgate's @Throttle use.
  'nest-noop-guard': async () => {
    class NoopGuard {
      async canActivate() {
        return true;
      }
    }
    return appModule({ controllers: [ordersController({ method: [UseGuards(NoopGuard)] })] });
  },

  'tollgate-nest-idempotency': async ({ redisUrl }) => {
    const { TollgateModule, Idempotent } = await tollgateNest();
    const store = await tollgateStore(redisUrl);
    return appModule({
      imports: [TollgateModule.forRoot({ store })],
      controllers: [ordersController({ method: [Idempotent({ strategy: 'key' })] })],
    });
  },

  // The same app on PostgresStore, on a pool of the app's own, its table created at start-up.
  'tollgate-nest-idempotency-postgres': async ({ databaseUrl }) => {
    const { TollgateModule, Idempotent } = await tollgateNest();
    const store = await postgresStore(databaseUrl);
    return appModule({
      imports: [TollgateModule.forRoot({ store })],
      controllers: [ordersController({ method: [Idempotent({ strategy: 'key' })] })],
    });
  },

  'tollgate-nest-idempotency-otel': async ({ redisUrl }) => {
    const { TollgateModule, Idempotent } = await tollgateNest();
    const onEvent = await tollgateMetrics();
    const store = await tollgateStore(redisUrl);
    return appModule({
      imports: [TollgateModule.forRoot({ store, onEvent })],
      controllers: [ordersController({ method: [Idempotent({ strategy: 'key' })] })],
    });
  },

  // The fixed window: the algorithm of every peer in the table, so every row does the same work.
  'tollgate-nest-throttle': async ({ redisUrl }) => {
    const { TollgateModule, Throttle } = await tollgateThrottle();
    const store = await tollgateStore(redisUrl);
    const limits = { default: { limit: HIGH_LIMIT, ttl: '1m', algorithm: 'fixed-window' } };
    return appModule({
      imports: [TollgateModule.forRoot({ store })],
      controllers: [ordersController({ method: [Throttle(limits)] })],
    });
  },

  // The same fixed window, its limit an async function of the request (as a plan lookup would be).
  'tollgate-nest-throttle-dynamic': async ({ redisUrl }) => {
    const { TollgateModule, Throttle } = await tollgateThrottle();
    const store = await tollgateStore(redisUrl);
    const limits = {
      default: {
        limit: async (request) => (request.header('x-plan') === 'free' ? 1 : HIGH_LIMIT),
        ttl: '1m',
        algorithm: 'fixed-window',
      },
    };
    return appModule({
      imports: [TollgateModule.forRoot({ store })],
      controllers: [ordersController({ method: [Throttle(limits)] })],
    });
  },

  // Tollgate's default algorithm, the exact sliding window (a sorted set of the window's units).
  'tollgate-nest-throttle-sliding': async ({ redisUrl }) => {
    const { TollgateModule, Throttle } = await tollgateThrottle();
    const store = await tollgateStore(redisUrl);
    return appModule({
      imports: [TollgateModule.forRoot({ store })],
      controllers: [
        ordersController({ method: [Throttle({ default: { limit: HIGH_LIMIT, ttl: '1m' } })] }),
      ],
    });
  },

  'tollgate-nest-throttle-3': async ({ redisUrl }) => {
    const { TollgateModule, Throttle } = await tollgateThrottle();
    const store = await tollgateStore(redisUrl);
    const limits = {
      short: { limit: HIGH_LIMIT, ttl: '1s', algorithm: 'fixed-window' },
      medium: { limit: HIGH_LIMIT, ttl: '10s', algorithm: 'fixed-window' },
      long: { limit: HIGH_LIMIT, ttl: '1m', algorithm: 'fixed-window' },
    };
    return appModule({
      imports: [TollgateModule.forRoot({ store })],
      controllers: [ordersController({ method: [Throttle(limits)] })],
    });
  },

  'nestjs-throttler': async ({ redisUrl }) => {
    const { ThrottlerGuard, ThrottlerModule } = await import('@nestjs/throttler');
    const { ThrottlerStorageRedisService } = await import('@nest-lab/throttler-storage-redis');
    const storage = new ThrottlerStorageRedisService(await readyClient(redisUrl));
    return appModule({
      imports: [
        ThrottlerModule.forRoot({ throttlers: [{ ttl: 60_000, limit: HIGH_LIMIT }], storage }),
      ],
      providers: [{ provide: APP_GUARD, useClass: ThrottlerGuard }],
      controllers: [ordersController()],
    });
  },

  'nestjs-throttler-3': async ({ redisUrl }) => {
    const { ThrottlerGuard, ThrottlerModule } = await import('@nestjs/throttler');
    const { ThrottlerStorageRedisService } = await import('@nest-lab/throttler-storage-redis');
    const storage = new ThrottlerStorageRedisService(await readyClient(redisUrl));
    return appModule({
      imports: [
        ThrottlerModule.forRoot({
          throttlers: [
            { name: 'short', ttl: 1_000, limit: HIGH_LIMIT },
            { name: 'medium', ttl: 10_000, limit: HIGH_LIMIT },
            { name: 'long', ttl: 60_000, limit: HIGH_LIMIT },
          ],
          storage,
        }),
      ],
      providers: [{ provide: APP_GUARD, useClass: ThrottlerGuard }],
      controllers: [ordersController()],
    });
  },

  'node-idempotency-nest': async ({ redisUrl }) => {
    const { Idempotent, NodeIdempotencyModule } = await import('@node-idempotency/nestjs');
    return appModule({
      imports: [
        NodeIdempotencyModule.forRootAsync({
          storage: { adapter: 'redis', options: { url: redisUrl } },
          // Stripe's 24 h, as Tollgate's default retention.
          cacheTTLMS: 24 * 60 * 60 * 1000,
        }),
      ],
      controllers: [ordersController({ method: [Idempotent({ enforceIdempotency: true })] })],
    });
  },
};
// Same app; only the workload differs (one key for the whole run).
builders['tollgate-nest-replay'] = builders['tollgate-nest-idempotency'];
builders['tollgate-nest-replay-postgres'] = builders['tollgate-nest-idempotency-postgres'];

// A client over its limit (every request after the first is refused), with the block cache on.
builders['tollgate-nest-throttle-refused'] = async ({ redisUrl }) => {
  const { TollgateModule, Throttle } = await tollgateThrottle();
  const store = await tollgateStore(redisUrl);
  if (typeof store.invalidations !== 'function') {
    throw new SkipTarget('the built library has no cache of refused clients (blockCache) yet');
  }
  const limits = { default: { limit: REFUSED_LIMIT, ttl: '1h', algorithm: 'fixed-window' } };
  return appModule({
    imports: [TollgateModule.forRoot({ store, throttle: { blockCache: true } })],
    controllers: [ordersController({ method: [Throttle(limits)] })],
  });
};

// The same client over its limit on @nestjs/throttler.
builders['nestjs-throttler-refused'] = async ({ redisUrl }) => {
  const { ThrottlerGuard, ThrottlerModule } = await import('@nestjs/throttler');
  const { ThrottlerStorageRedisService } = await import('@nest-lab/throttler-storage-redis');
  const storage = new ThrottlerStorageRedisService(await readyClient(redisUrl));
  return appModule({
    imports: [
      ThrottlerModule.forRoot({ throttlers: [{ ttl: 3_600_000, limit: REFUSED_LIMIT }], storage }),
    ],
    providers: [{ provide: APP_GUARD, useClass: ThrottlerGuard }],
    controllers: [ordersController()],
  });
};

// The same replay, answered from the process's cache of completed results.
builders['tollgate-nest-replay-cached'] = async ({ redisUrl }) => {
  const { TollgateModule, Idempotent } = await tollgateNest();
  const store = await tollgateStore(redisUrl);
  if (typeof store.invalidations !== 'function') {
    throw new SkipTarget('the built library has no cache of completed results (resultCache) yet');
  }
  return appModule({
    imports: [TollgateModule.forRoot({ store, resultCache: true })],
    controllers: [ordersController({ method: [Idempotent({ strategy: 'key' })] })],
  });
};

/** Builds and starts the Nest app of `targetId`; resolves with its HTTP server, listening. */
export async function startNest(targetId, context) {
  const build = builders[targetId];
  if (!build) throw new Error(`no Nest app for target ${targetId}`);
  const module = await build(context);
  const app = await NestFactory.create(module, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  return { server: app.getHttpServer(), close: () => app.close() };
}

export const nestTargets = Object.keys(builders);
