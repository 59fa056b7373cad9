import type { ServerResponse } from 'node:http';

import { checkStoreHealth } from '../core/health.js';
import type { StoreHealthOptions, TollgateStore } from '../core/store.js';

/**
 * Answers a readiness probe with the store's health: 200 while it is up, 503 while it is down
 * (what Kubernetes and load balancers read), with the health as JSON. Never cached, as a probe
 * must see the store as it is now.
 */
export async function sendStoreHealth(
  res: ServerResponse,
  store: TollgateStore,
  options: StoreHealthOptions = {},
): Promise<void> {
  const { status, ...health } = await checkStoreHealth(store, options);
  const body = Buffer.from(JSON.stringify({ status, store: store.kind, ...health }));
  res.statusCode = status === 'up' ? 200 : 503;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', body.byteLength);
  res.end(body);
}
