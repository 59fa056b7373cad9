import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Express } from 'express';

import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import type { TollgateStore } from '../../src/core/store.js';
import { startRedis, type RedisServer } from './redis-server.js';

export interface ServedExpressApp {
  baseUrl: string;
  runs: Map<string, number>;
  /** The redis-server behind the store, for the `redis` kind (to pause or kill it). */
  redis: RedisServer | undefined;
  /** Stops the HTTP server, closes the store and stops redis-server. */
  close(): Promise<void>;
}

/**
 * Builds an Express app on a fresh store of the given kind (a real redis-server for `redis`) and
 * serves it on a free loopback port.
 */
export async function serveExpressApp(
  storeKind: 'memory' | 'redis',
  build: (store: TollgateStore) => { app: Express; runs: Map<string, number> },
): Promise<ServedExpressApp> {
  const redis = storeKind === 'redis' ? await startRedis() : undefined;
  const store: TollgateStore = redis ? new RedisStore({ url: redis.url }) : new MemoryStore();
  await store.ready?.();
  const { app, runs } = build(store);
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    runs,
    redis,
    async close() {
      const closed = new Promise((done) => server.close(done));
      server.closeAllConnections();
      await closed;
      await store.close?.();
      await redis?.stop();
    },
  };
}
