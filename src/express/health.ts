import { toMilliseconds, type Duration } from '../core/duration.js';
import type { TollgateStore } from '../core/store.js';
import { sendStoreHealth } from '../http/health.js';
import type { ExpressMiddleware } from './request.js';

/** Options of `storeHealth()`. */
export interface StoreHealthMiddlewareOptions {
  /** The store to check: the one `idempotent()` and `throttle()` use. */
  store: TollgateStore;
  /** A store slower than this is reported down. Default `'1s'`. */
  timeout?: Duration;
}

/**
 * A readiness endpoint for the store: 200 while it can serve requests, 503 while it cannot, with
 * its health as JSON (`{ status, store, latencyMs, detail, nodes }`). Mount it before any
 * `throttle()` or `idempotent()` middleware, so a probe is never limited or protected.
 *
 * @example
 * ```ts
 * app.get('/health', storeHealth({ store, timeout: '500ms' }));
 * ```
 */
export function storeHealth(options: StoreHealthMiddlewareOptions): ExpressMiddleware {
  const timeoutMs =
    options.timeout === undefined ? undefined : toMilliseconds(options.timeout, 'timeout');
  const { store } = options;
  return (_req, res, next) => {
    sendStoreHealth(res, store, timeoutMs === undefined ? {} : { timeoutMs }).catch(next);
  };
}
