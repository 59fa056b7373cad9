import { ConfigurableModuleBuilder, type ExecutionContext } from '@nestjs/common';

import type { TollgateEvent } from '../core/events.js';
import type { IdempotencyOptions } from '../core/idempotency/options.js';
import type { ResultCacheOption } from '../core/idempotency/result-cache.js';
import type { BlockCacheOption } from '../core/ratelimit/block-cache.js';
import type { RateLimitRejection } from '../core/ratelimit/decision.js';
import type { RateLimitEvent } from '../core/ratelimit/events.js';
import { ownOptionNames } from '../core/ratelimit/option-names.js';
import type { ThrottleLimits, ThrottleSettings } from '../core/ratelimit/options.js';
import type { ScopeResolver } from '../http/request.js';
import type { WaitForStoreOptions } from '../core/startup.js';
import type { TollgateStore } from '../core/store.js';

// The resolver is framework-free, shared with the Express adapter; Nest users import it from here.
export type { ScopeResolver } from '../http/request.js';

/** Module-wide rate-limit defaults: limits every throttled route gets, and their settings. */
export interface ThrottleModuleOptions extends ThrottleSettings {
  /**
   * Where rate-limit counters live, when not in the module's `store`: for a `store` that cannot
   * rate-limit (`PostgresStore`), give a `RedisStore` or a `MemoryStore` here. It is closed with
   * the application. Default: the module's `store`.
   */
  store?: TollgateStore;
  /** Limits every throttled route gets (every route, with a global `ThrottleGuard`); `@Throttle()` adds to them or changes them by name. Default none. */
  limits?: ThrottleLimits;
  /** Hears the rate-limit events too, besides the module's `onEvent`. Default: none. */
  onEvent?: (event: RateLimitEvent) => void;
  /** Most counters the in-process fallback (`onStoreUnavailable: 'local'`) keeps. Default 10 000. */
  localMaxKeys?: number;
  /**
   * Refuse a client the store refused, until the moment the store said it would admit it, without
   * asking the store again: `true` or bounds (`{ maxEntries, maxBytes }`, default 10 000 and 4 MiB).
   * Needs RedisStore. Default off (docs/guarantees.md says what it keeps).
   */
  blockCache?: BlockCacheOption;
  /**
   * Turns a refused request (429, 403 or 503) into the exception the guard throws, for a body of
   * your own: return e.g. `new HttpException({ message: 'slow down' }, 429)`. `Retry-After` and the
   * rate-limit headers are already set on the response. Returning nothing keeps the default
   * problem+json.
   */
  onRejected?: (rejection: RateLimitRejection, context: ExecutionContext) => unknown;
}

/**
 * The module's own rate-limit options besides the settings every adapter shares: with those, every
 * name `forRoot({ throttle })` takes, so the core can refuse any other. Complete: an option added
 * to `ThrottleModuleOptions` must be listed.
 */
export const THROTTLE_MODULE_OPTIONS = ownOptionNames<ThrottleModuleOptions>()(
  'store',
  'limits',
  'onEvent',
  'localMaxKeys',
  'blockCache',
  'onRejected',
);

export interface TollgateModuleOptions {
  /** Where keys and results live. Default: a `MemoryStore` (one process only). */
  store?: TollgateStore;
  /** Prefix of every storage key, so several apps can share one Redis. Default `tollgate`. */
  namespace?: string;
  /** Defaults for every idempotent route; `@Idempotent()` options override them. */
  idempotency?: IdempotencyOptions;
  /**
   * Keep completed results in the process, so a replay costs no store call: `true` or bounds
   * (`{ maxEntries, maxBytes }`, default 10 000 and 16 MiB). Needs RedisStore or QuorumStore.
   * Default off (docs/guarantees.md says why).
   */
  resultCache?: ResultCacheOption;
  /** Rate-limit defaults for `@Throttle()` routes and a global `ThrottleGuard`. */
  throttle?: ThrottleModuleOptions;
  /** The principal and tenant keys are scoped to. Default: `request.user.id` and `request.user.tenantId` when present. */
  scope?: ScopeResolver;
  /**
   * Hears every event of idempotency, rate limiting and exclusive leases: each decision, each store
   * call, each failure (`openTelemetryEvents()` from `tollgate/otel` turns them into metrics).
   * Default: failures only, as warnings through Nest's `Logger`, each kind at most every 10 s.
   */
  onEvent?: (event: TollgateEvent) => void;
  /**
   * How long the application's start waits for the store to connect, and whether it may start
   * without it. While it waits, one line through Nest's `Logger` names the store and the reason.
   * `false`: do not wait. Default `{ timeout: '5s', required: false }`.
   */
  waitForStore?: WaitForStoreOptions | false;
}

export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<TollgateModuleOptions>({ moduleName: 'Tollgate' })
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: true }, (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }))
    .build();

/** The module options, injectable under this token. */
export const TOLLGATE_OPTIONS = MODULE_OPTIONS_TOKEN;
