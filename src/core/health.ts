import { performance } from 'node:perf_hooks';

import { withDeadline } from './deadline.js';
import { toError } from './errors.js';
import type { StoreHealth, StoreHealthOptions, TollgateStore } from './store.js';

/** How long a health check waits for the store unless told otherwise. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 1_000;

/**
 * Asks a store for its health, within `timeoutMs` whatever the store does: a readiness probe must
 * answer even when the store hangs or throws. A store without `health()` (one of your own) has
 * nothing to report and is taken as `up`, so adding the probe never takes an app out of service.
 */
export async function checkStoreHealth(
  store: TollgateStore,
  options: StoreHealthOptions = {},
): Promise<StoreHealth> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  if (typeof store.health !== 'function') {
    return { status: 'up', latencyMs: 0, detail: `a ${store.kind} store has no health check` };
  }
  const health = store.health.bind(store);
  const started = performance.now();
  try {
    // The store bounds its own check; this deadline only catches a store that ignores the bound.
    return await withDeadline('the health check', timeoutMs + 100, () => health({ timeoutMs }));
  } catch (error) {
    return { status: 'down', latencyMs: elapsedSince(started), detail: toError(error).message };
  }
}

/** Milliseconds since `started` (from `performance.now()`), to a tenth. */
export function elapsedSince(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
