/** Tollgate for Express 4 and 5: `import { idempotent, RedisStore } from 'tollgate/express'`. */
export {
  idempotent,
  type ExpressRequestLike,
  type IdempotencyMiddleware,
  type IdempotentMiddlewareOptions,
  type NextFunctionLike,
} from './express/idempotent.js';
export {
  defaultScope,
  type HttpRequestLike,
  type ScopeParts,
  type ScopeResolver,
} from './http/request.js';
export * from './index.js';
