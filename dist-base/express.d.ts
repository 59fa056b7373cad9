/**
 * Tollgate for Express 4 and 5:
 * `import { idempotent, throttle, RedisStore } from 'tollgate/express'`.
 */
export { idempotent, type IdempotencyMiddleware, type IdempotentMiddlewareOptions, } from './express/idempotent.js';
export { throttle, type ThrottleMiddleware, type ThrottleMiddlewareOptions, } from './express/throttle.js';
export type { ExpressMiddleware, ExpressRequestLike, NextFunctionLike, RouteOption, } from './express/request.js';
export { defaultScope, type HttpRequestLike, type ScopeParts, type ScopeResolver, } from './http/request.js';
export * from './index.js';
//# sourceMappingURL=express.d.ts.map