import { waitForStore, waitTimeoutMs, type WaitForStoreOptions } from '../core/startup.js';
import type { TollgateStore } from '../core/store.js';
import type { ExpressMiddleware, ExpressRequestLike } from './request.js';

/**
 * How long an Express middleware holds the first requests while its store connects. There is no
 * `required` here: a middleware cannot stop an app from starting (`await waitForStore(store, {
 * required: true })` before `listen()` does that).
 */
export type ExpressWaitForStoreOptions = Omit<WaitForStoreOptions, 'required'>;

/**
 * Holds requests that arrive while the store is still connecting, for at most the wait's timeout
 * (the store logs one line while it cannot connect), so the first requests after `listen()` are
 * not refused only because the connection was a moment late. Once the wait has ended, however it
 * ended, requests go straight through and meet the route's store policy.
 */
export function afterStoreWait<Req extends ExpressRequestLike>(
  store: TollgateStore,
  options: ExpressWaitForStoreOptions | false | undefined,
  middleware: ExpressMiddleware<Req>,
): ExpressMiddleware<Req> {
  if (options === false || typeof store.ready !== 'function') return middleware;
  // Checked now, so a typo fails where the middleware is created, not in a promise.
  const timeout = waitTimeoutMs(options);
  let waiting: Promise<unknown> | undefined = waitForStore(store, { timeout }).then(
    () => {
      waiting = undefined;
    },
    () => {
      waiting = undefined;
    },
  );
  return function tollgateAfterStoreWait(req, res, next) {
    if (waiting === undefined) middleware(req, res, next);
    else void waiting.then(() => middleware(req, res, next));
  };
}
