/** Tollgate for NestJS: `import { TollgateModule, Idempotent } from 'tollgate/nest'`. */
export { Idempotent, SkipIdempotency } from './nest/decorators.js';
export { IdempotencyInterceptor } from './nest/idempotency.interceptor.js';
export { Lease } from './nest/lease.decorator.js';
export { Exclusive } from './nest/exclusive.decorator.js';
export {
  IdempotentMetadata,
  SkipIdempotencyMetadata,
  type IdempotentOptions,
} from './nest/metadata.js';
export { type MessageIdempotencyOptions, type RpcArgumentsHost } from './nest/message-context.js';
export { defaultMessageId } from './core/idempotency/message.js';
export { SkipThrottle, Throttle } from './nest/throttle.decorators.js';
export { ThrottleGuard } from './nest/throttle.guard.js';
export { NestRateLimiter, ThrottleAdmin } from './nest/throttle.admin.js';
export { SkipThrottleMetadata, ThrottleMetadata } from './nest/throttle.metadata.js';
export { TollgateHttpException } from './nest/tollgate-http.exception.js';
export { TollgateModule } from './nest/tollgate.module.js';
export {
  TOLLGATE_OPTIONS,
  type ScopeResolver,
  type ThrottleModuleOptions,
  type TollgateModuleOptions,
} from './nest/tollgate.module-definition.js';
export { defaultScope } from './http/request.js';
export * from './index.js';
