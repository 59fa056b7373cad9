/**
 * A `RedisStore` whose feed of removals (its subscription, a duplicate of its client) reaches Redis
 * through another port, a fault proxy's, so a test can slow or cut the feed apart from the
 * commands.
 */
import type { Redis } from 'ioredis';

import { RedisStore } from '../../src/stores/redis/redis-store.js';

export async function storeWithFeedThrough(url: string, port: number): Promise<RedisStore> {
  const store = new RedisStore({ url });
  await store.ready();
  const client = store.client as Redis;
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (override) => duplicate({ ...override, port });
  return store;
}
