/**
 * Tollgate for NestJS: `import { TollgateModule, Idempotent, Throttle } from 'tollgate/nest'`.
 * Stores, option types and errors come from `tollgate`.
 */
export { TollgateModule } from './nest/tollgate.module.js';
export {
  TOLLGATE_OPTIONS,
  type ThrottleModuleOptions,
  type TollgateModuleOptions,
} from './nest/tollgate.module-definition.js';

// Idempotency: the decorators, the lease handle, and the interceptor they use.
export { Idempotent, SkipIdempotency } from './nest/decorators.js';
export type { IdempotentOptions } from './nest/metadata.js';
export { Lease } from './nest/lease.decorator.js';
export { IdempotencyInterceptor } from './nest/idempotency.interceptor.js';
export type { MessageIdempotencyOptions, RpcArgumentsHost } from './nest/message-context.js';

// Rate limiting: the decorators and the guard.
export { SkipThrottle, Throttle } from './nest/throttle.decorators.js';
export { ThrottleGuard } from './nest/throttle.guard.js';
export { ThrottleAdmin, type NestRateLimiter } from './nest/throttle.admin.js';

// Exclusive leases on provider methods.
export { Exclusive } from './nest/exclusive.decorator.js';

// A Tollgate rejection as a Nest exception, and the default scope (`request.user`).
export { TollgateHttpException } from './nest/tollgate-http.exception.js';
export { defaultScope } from './http/request.js';
