import type { IdempotencyEvent } from '../core/idempotency/engine.js';
import type { IdempotencyOptions } from '../core/idempotency/options.js';
import type { RateLimitEvent } from '../core/ratelimit/engine.js';
import type { ThrottleLimits, ThrottleSettings } from '../core/ratelimit/options.js';
import type { ScopeResolver } from '../http/request.js';
import type { TollgateStore } from '../stores/store.js';
export type { ScopeResolver } from '../http/request.js';
/** Module-wide rate-limit defaults: limits every throttled route gets, and their settings. */
export interface ThrottleModuleOptions extends ThrottleSettings {
    /** Limits every throttled route gets (every route, with a global `ThrottleGuard`); `@Throttle()` adds to them or changes them by name. Default none. */
    limits?: ThrottleLimits;
    /** Receives rate-limit events (the store was unreachable). Default: warnings through Nest's `Logger`. */
    onEvent?: (event: RateLimitEvent) => void;
    /** Most counters the in-process fallback (`onStoreUnavailable: 'local'`) keeps. Default 10 000. */
    localMaxKeys?: number;
}
export interface TollgateModuleOptions {
    /** Where keys and results live. Default: a `MemoryStore` (one process only). */
    store?: TollgateStore;
    /** Prefix of every storage key, so several apps can share one Redis. Default `tollgate`. */
    namespace?: string;
    /** Defaults for every idempotent route; `@Idempotent()` options override them. */
    idempotency?: IdempotencyOptions;
    /** Rate-limit defaults for `@Throttle()` routes and a global `ThrottleGuard`. */
    throttle?: ThrottleModuleOptions;
    /** The principal and tenant keys are scoped to. Default: `request.user.id` and `request.user.tenantId` when present. */
    scope?: ScopeResolver;
    /** Receives events worth logging or counting. Default: warnings through Nest's `Logger`. */
    onEvent?: (event: IdempotencyEvent) => void;
}
export declare const ConfigurableModuleClass: import("@nestjs/common").ConfigurableModuleCls<TollgateModuleOptions, "forRoot", "create", {
    isGlobal: boolean;
}>, MODULE_OPTIONS_TOKEN: string | symbol, OPTIONS_TYPE: TollgateModuleOptions & Partial<{
    isGlobal: boolean;
}>, ASYNC_OPTIONS_TYPE: import("@nestjs/common").ConfigurableModuleAsyncOptions<TollgateModuleOptions, "create"> & Partial<{
    isGlobal: boolean;
}>;
/** The module options, injectable under this token. */
export declare const TOLLGATE_OPTIONS: string | symbol;
//# sourceMappingURL=tollgate.module-definition.d.ts.map