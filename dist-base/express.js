/**
 * Tollgate for Express 4 and 5:
 * `import { idempotent, throttle, RedisStore } from 'tollgate/express'`.
 */
export { idempotent, } from './express/idempotent.js';
export { throttle, } from './express/throttle.js';
export { defaultScope, } from './http/request.js';
export * from './index.js';
//# sourceMappingURL=express.js.map