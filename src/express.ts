/**
 * Tollgate for Express 4 and 5: `import { idempotent, throttle } from 'tollgate/express'`.
 * Stores, option types and errors come from `tollgate`.
 */
export {
  idempotent,
  type IdempotentMiddleware,
  type IdempotentMiddlewareOptions,
} from './express/idempotent.js';
export {
  throttle,
  type ThrottleMiddleware,
  type ThrottleMiddlewareOptions,
} from './express/throttle.js';
export type { ExpressWaitForStoreOptions } from './express/startup.js';
export { storeHealth, type StoreHealthMiddlewareOptions } from './express/health.js';
export { documentTollgateRoute, type OpenApiPathsDocument } from './express/openapi.js';
export type {
  ExpressMiddleware,
  ExpressRequestLike,
  NextFunctionLike,
  RouteOption,
} from './express/request.js';
export { defaultScope, type HttpRequestLike } from './http/request.js';
declare global {
  // Express's own augmentation point (as Passport's `req.user` and express-rate-limit's
  // `req.rateLimit` use): the type of `req.idempotency` in every handler.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /**
       * The lease this request runs under behind `idempotent()`: its fencing token, and a signal
       * that aborts when the lease can no longer be guaranteed. `undefined` when it runs
       * unprotected (no key on an optional route, or the store down with `onStoreUnavailable:
       * 'allow'`), or on routes without `idempotent()`.
       */
      readonly idempotency?: import('./core/lease/lease.js').IdempotencyLease;
    }
  }
}
