import type { Type } from '@nestjs/common';
import { GUARDS_METADATA, INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import type { Reflector } from '@nestjs/core';

import type { IdempotencyPolicy } from '../core/idempotency/options.js';
import { idempotencyPolicyFor, type IdempotencyRouteOptions } from '../core/idempotency/route.js';
import type { ThrottleLayer, ThrottlePolicy, ThrottleSkip } from '../core/ratelimit/options.js';
import { resolveThrottlePolicy } from '../core/ratelimit/policy.js';
import { IdempotentMetadata, SkipIdempotencyMetadata } from './metadata.js';
import { SKIP_ALL, SkipThrottleMetadata, ThrottleMetadata } from './throttle.metadata.js';
import type { TollgateModuleOptions } from './tollgate.module-definition.js';

/**
 * How one route is protected, read from its decorators and the module's defaults: the one reading
 * the interceptor and the guard act on, and the OpenAPI document describes. Each function assumes
 * the request reached the interceptor or the guard (see `reachedBy`).
 */

type SkipValue = Readonly<Record<string, boolean>> | undefined;

/**
 * Where a handler's idempotency comes from: its (or its controller's) `@Idempotent()` over the
 * module's defaults; null when `@SkipIdempotency()` takes it out. `@Idempotent()` protects its
 * handler on every method; without it, only a global registration reaches here, and protects the
 * core's default methods with the key optional.
 */
export function idempotencyRouteOf(
  reflector: Reflector,
  controller: Type<unknown>,
  handler: object,
  options: TollgateModuleOptions,
): IdempotencyRouteOptions | null {
  const targets = [handler as () => void, controller];
  if (reflector.getAllAndOverride(SkipIdempotencyMetadata, targets)) return null;
  const route = reflector.getAllAndOverride(IdempotentMetadata, targets);
  return {
    route,
    defaults: options.idempotency,
    decorated: !!route,
    methods: route ? 'every' : undefined,
  };
}

/** The idempotency policy of a handler for one request method; null: not protected. */
export function idempotencyPolicyOf(
  reflector: Reflector,
  controller: Type<unknown>,
  handler: object,
  method: string,
  options: TollgateModuleOptions,
): IdempotencyPolicy | null {
  const found = idempotencyRouteOf(reflector, controller, handler, options);
  return found && idempotencyPolicyFor(found, method);
}

/**
 * Where a handler's limits come from: the module's defaults, its controller's and its own
 * `@Throttle()`, and its `@SkipThrottle()`s; null when none gives a limit.
 */
export function throttleLayersOf(
  reflector: Reflector,
  controller: Type<unknown>,
  handler: object,
  options: TollgateModuleOptions,
): { layers: Array<ThrottleLayer | undefined>; skip: ThrottleSkip } | null {
  const defaults = options.throttle;
  const onController = reflector.get(ThrottleMetadata, controller);
  const onHandler = reflector.get(ThrottleMetadata, handler as () => void);
  if (!defaults?.limits && !onController && !onHandler) return null;
  const skip = throttleSkipOf(reflector, controller, handler);
  return {
    layers: [{ limits: defaults?.limits, settings: defaults }, onController, onHandler],
    skip,
  };
}

/** Which limit names a handler skips: its `@SkipThrottle()` over its controller's, name by name. */
export function throttleSkipOf(
  reflector: Reflector,
  controller: Type<unknown>,
  handler: object,
): ThrottleSkip {
  return mergeSkips(
    reflector.get(SkipThrottleMetadata, controller),
    reflector.get(SkipThrottleMetadata, handler as () => void),
  );
}

/** The rate-limit policy of a handler, as the OpenAPI document describes it; null: not throttled. */
export function throttlePolicyOf(
  reflector: Reflector,
  controller: Type<unknown>,
  handler: object,
  options: TollgateModuleOptions,
): ThrottlePolicy | null {
  const found = throttleLayersOf(reflector, controller, handler, options);
  if (!found) return null;
  const policy = resolveThrottlePolicy(found.layers, found.skip);
  return policy.limits.length > 0 ? policy : null;
}

/**
 * Whether a handler's requests pass through `enhancer` (the interceptor or the guard) without a
 * global registration: `@Idempotent()` / `@Throttle()` apply it, as does `@UseInterceptors()` /
 * `@UseGuards()` by hand, on the handler or its controller.
 */
export function reachedBy(
  enhancer: 'interceptor' | 'guard',
  type: Type<unknown>,
  controller: Type<unknown>,
  handler: object,
): boolean {
  const key = enhancer === 'interceptor' ? INTERCEPTORS_METADATA : GUARDS_METADATA;
  return [handler, controller].some((target) => {
    const applied = Reflect.getMetadata(key, target) as unknown[] | undefined;
    return applied?.some((entry) => isOrExtends(entry, type)) ?? false;
  });
}

function isOrExtends(entry: unknown, type: Type<unknown>): boolean {
  if (typeof entry === 'function') return entry === type || entry.prototype instanceof type;
  return entry instanceof type;
}

/**
 * The handler's `@SkipThrottle()` wins over the controller's, name by name: a controller may skip
 * everything and one handler bring back `{ burst: false }`, and a name the handler does not
 * mention keeps the controller's choice. Within one of them, a name it gives is more specific
 * than its "every limit" (`SKIP_ALL`), whichever decorator came first.
 */
function mergeSkips(onController: SkipValue, onHandler: SkipValue): ThrottleSkip {
  return (name) => {
    for (const layer of [onHandler, onController]) {
      if (layer === undefined) continue;
      if (Object.prototype.hasOwnProperty.call(layer, name)) return layer[name] === true;
      if (Object.prototype.hasOwnProperty.call(layer, SKIP_ALL)) return layer[SKIP_ALL] === true;
    }
    return false;
  };
}
