import type { INestApplication, Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ApplicationConfig, DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import {
  DECORATORS,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
  type SwaggerDocumentOptions,
} from '@nestjs/swagger';

import { TollgateConfigError } from '../../core/errors.js';
import type { IdempotencyPolicy } from '../../core/idempotency/options.js';
import type { ThrottlePolicy } from '../../core/ratelimit/options.js';
import { IdempotencyInterceptor } from '../idempotency.interceptor.js';
import { idempotencyPolicyOf, reachedBy, throttlePolicyOf } from '../route-policies.js';
import { ThrottleGuard } from '../throttle.guard.js';
import { MODULE_OPTIONS_TOKEN, type TollgateModuleOptions } from '../tollgate.module-definition.js';
import { addComponents, documentOperation } from '../../http/openapi.js';

/**
 * The extension that names a route's handler in the operation Swagger builds for it. Swagger
 * copies a handler's `@ApiExtension()` values into its operations, whatever the path, prefix,
 * version or operation id; this one is removed again before the document is returned.
 */
const ROUTE_MARKER = 'x-tollgate-route';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const;

/** One routed handler and what reaches it. */
interface Route {
  controller: Type<unknown>;
  handler: object;
  /** The idempotency interceptor runs for it (globally, or applied to it or its controller). */
  intercepted: boolean;
  throttle: ThrottlePolicy | null;
}

/**
 * `SwaggerModule.createDocument`, with every route Tollgate protects documented as this app runs
 * it: the `Idempotency-Key` header (required or optional as the route says), the 400, 409, 422,
 * 429 and 503 `application/problem+json` responses it can give (with a `ProblemDetails` schema),
 * and the `Idempotent-Replayed`, `Retry-After`, `RateLimit` and `RateLimit-Policy` headers. Routes
 * protected by a global `IdempotencyInterceptor` or `ThrottleGuard` (and the module's defaults)
 * are documented too; `@SkipIdempotency()` and `@SkipThrottle()` are respected. What the
 * application documented itself (`@ApiHeader`, `@ApiResponse`) stays and is completed.
 *
 * @example
 * ```ts
 * const config = new DocumentBuilder().setTitle('Payments').build();
 * const document = createTollgateDocument(app, config);
 * SwaggerModule.setup('docs', app, document); // Swagger UI at /docs, the JSON at /docs-json
 * ```
 */
export function createTollgateDocument(
  app: INestApplication,
  config: Omit<OpenAPIObject, 'paths'>,
  options?: SwaggerDocumentOptions,
): OpenAPIObject {
  const routes = discoverRoutes(app);
  const restore = markRoutes(routes);
  let document: OpenAPIObject;
  try {
    document = SwaggerModule.createDocument(app, config, options);
  } finally {
    restore();
  }
  const moduleOptions = tollgateOptions(app);
  const reflector = app.get(Reflector);
  let documented = false;
  for (const operation of operationsOf(document)) {
    const marker = operation.operation[ROUTE_MARKER] as unknown;
    delete operation.operation[ROUTE_MARKER];
    const route = typeof marker === 'number' ? routes[marker] : undefined;
    if (!route) continue;
    const idempotency: IdempotencyPolicy | null = route.intercepted
      ? idempotencyPolicyOf(
          reflector,
          route.controller,
          route.handler,
          operation.method.toUpperCase(),
          moduleOptions,
        )
      : null;
    if (!idempotency && !route.throttle) continue;
    documentOperation(operation.operation, idempotency, route.throttle);
    documented = true;
  }
  if (documented) addComponents(document);
  return document;
}

/** Every handler the app routes to, with the protection that reaches it. */
function discoverRoutes(app: INestApplication): Route[] {
  const options = tollgateOptions(app);
  const reflector = app.get(Reflector);
  const discovery = app.get(DiscoveryService, { strict: false });
  const scanner = new MetadataScanner();
  const globalInterceptor = registeredGlobally(app, IdempotencyInterceptor);
  const globalGuard = registeredGlobally(app, ThrottleGuard);
  const routes: Route[] = [];
  for (const wrapper of discovery.getControllers()) {
    const controller = wrapper.metatype as Type<unknown> | null;
    if (!controller?.prototype) continue;
    const prototype = controller.prototype as Record<string, unknown>;
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name];
      if (typeof handler !== 'function') continue;
      if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
      if (Reflect.getMetadata(METHOD_METADATA, handler) === undefined) continue;
      const guarded = globalGuard || reachedBy('guard', ThrottleGuard, controller, handler);
      routes.push({
        controller,
        handler,
        intercepted:
          globalInterceptor ||
          reachedBy('interceptor', IdempotencyInterceptor, controller, handler),
        throttle: guarded ? throttlePolicyOf(reflector, controller, handler, options) : null,
      });
    }
  }
  return routes;
}

/**
 * Puts each route's marker among its handler's Swagger extensions for the time of one
 * `createDocument` call, and returns what puts the previous extensions back: the metadata of the
 * application's classes is left as it was.
 */
function markRoutes(routes: readonly Route[]): () => void {
  const previous = new Map<object, unknown>();
  routes.forEach((route, index) => {
    const { handler } = route;
    if (!previous.has(handler)) {
      previous.set(handler, Reflect.getOwnMetadata(DECORATORS.API_EXTENSION, handler));
    }
    const extensions = (Reflect.getMetadata(DECORATORS.API_EXTENSION, handler) ?? {}) as object;
    Reflect.defineMetadata(
      DECORATORS.API_EXTENSION,
      { ...extensions, [ROUTE_MARKER]: index },
      handler,
    );
  });
  return () => {
    for (const [handler, extensions] of previous) {
      if (extensions === undefined) Reflect.deleteMetadata(DECORATORS.API_EXTENSION, handler);
      else Reflect.defineMetadata(DECORATORS.API_EXTENSION, extensions, handler);
    }
  };
}

function* operationsOf(
  document: OpenAPIObject,
): Generator<{ method: string; operation: OperationObject & Record<string, unknown> }> {
  for (const item of Object.values(document.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (operation)
        yield { method, operation: operation as OperationObject & Record<string, unknown> };
    }
  }
}

function tollgateOptions(app: INestApplication): TollgateModuleOptions {
  try {
    return app.get<TollgateModuleOptions>(MODULE_OPTIONS_TOKEN, { strict: false });
  } catch {
    throw new TollgateConfigError(
      'TOLLGATE_MODULE_MISSING',
      'createTollgateDocument found no TollgateModule in the application: import TollgateModule.forRoot() in its root module',
    );
  }
}

/**
 * Whether `type` is registered for every route: with `APP_INTERCEPTOR` / `APP_GUARD` or with
 * `app.useGlobalInterceptors()` / `useGlobalGuards()`. Nest keeps both in the application's
 * config, which it does not expose (Swagger reads it the same way).
 */
function registeredGlobally(app: INestApplication, type: Type<unknown>): boolean {
  const config = (app as unknown as { config?: unknown }).config;
  if (!(config instanceof ApplicationConfig)) return false;
  const instances: unknown[] =
    type === ThrottleGuard ? config.getGlobalGuards() : config.getGlobalInterceptors();
  const wrappers =
    type === ThrottleGuard
      ? config.getGlobalRequestGuards()
      : config.getGlobalRequestInterceptors();
  return (
    instances.some((instance) => instance instanceof type) ||
    wrappers.some(
      (wrapper) =>
        wrapper.instance instanceof type ||
        wrapper.metatype === type ||
        (typeof wrapper.metatype === 'function' && wrapper.metatype.prototype instanceof type),
    )
  );
}
