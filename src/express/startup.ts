import { waitForStore, type WaitForStoreOptions } from '../core/startup.js';
import type { TollgateStore } from '../core/store.js';
import type { ExpressMiddleware, ExpressRequestLike } from './request.js';

/** How long an Express middleware holds the first requests while its store connects. */
export type ExpressWaitForStoreOptions = Omit<WaitForStoreOptions, 'required'>;

/**
 * Holds requests that arrive while the store is still connecting, for at most the wait's timeout
 * (shared by every middleware on the store, which logs one line while it cannot connect), so the
 * first requests after `listen()` are not refused only because the connection was a moment
 * late. Once the wait has ended, requests go straight through.
 */
export function afterStoreWait<Req extends ExpressRequestLike>(
  store: TollgateStore,
  options: ExpressWaitForStoreOptions | false | undefined,
  middleware: ExpressMiddleware<Req>,
): ExpressMiddleware<Req> {
  if (options === false || typeof store.ready !== 'function') return middleware;
  let waiting: Promise<unknown> | undefined = waitForStore(store, options ?? {}).finally(() => {
    waiting = undefined;
  });
  return function tollgateAfterStoreWait(req, res, next) {
    if (waiting === undefined) middleware(req, res, next);
    else void waiting.then(() => middleware(req, res, next));
  };
}
