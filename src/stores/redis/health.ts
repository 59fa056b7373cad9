import { performance } from 'node:perf_hooks';

import { Cluster, type Redis } from 'ioredis';

import { withDeadline } from '../../core/deadline.js';
import { DEFAULT_HEALTH_TIMEOUT_MS, elapsedSince } from '../../core/health.js';
import { toError } from '../../core/errors.js';
import type { StoreHealth, StoreHealthOptions } from '../../core/store.js';

/**
 * A `PING` to the server (on Cluster, to every master: a master that does not answer leaves its
 * slots unserved), given up after `timeoutMs`. A connection that is not ready is down at once: no
 * command is queued behind a reconnect, so the check never waits for one.
 */
export async function pingHealth(
  client: Redis | Cluster,
  options: StoreHealthOptions = {},
): Promise<StoreHealth> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  const started = performance.now();
  if (client.status !== 'ready') {
    return { status: 'down', latencyMs: 0, detail: `the Redis connection is ${client.status}` };
  }
  const targets = client instanceof Cluster ? client.nodes('master') : [client];
  if (targets.length === 0) {
    return { status: 'down', latencyMs: 0, detail: 'the Redis Cluster has no master' };
  }
  try {
    await withDeadline('PING', timeoutMs, () => Promise.all(targets.map((node) => node.ping())));
    const latencyMs = elapsedSince(started);
    return client instanceof Cluster
      ? { status: 'up', latencyMs, detail: `${targets.length} masters answered PING` }
      : { status: 'up', latencyMs };
  } catch (error) {
    return { status: 'down', latencyMs: elapsedSince(started), detail: toError(error).message };
  }
}
