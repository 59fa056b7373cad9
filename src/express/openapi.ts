import { TollgateConfigError } from '../core/errors.js';
import type { IdempotencyPolicy } from '../core/idempotency/options.js';
import type { ThrottlePolicy } from '../core/ratelimit/options.js';
import {
  addComponents,
  documentOperation,
  type OpenApiDocument,
  type OpenApiOperation,
} from '../http/openapi.js';

/** What a middleware `idempotent()` or `throttle()` returned does, kept for documenting its route. */
type Protection =
  | { kind: 'idempotency'; policy: IdempotencyPolicy; methods: ReadonlySet<string> }
  | { kind: 'throttle'; policy: ThrottlePolicy };

const protections = new WeakMap<object, Protection>();

/** Called by `idempotent()` and `throttle()` with the policy each middleware applies. */
export function rememberProtection(middleware: object, protection: Protection): void {
  protections.set(middleware, protection);
}

/** An OpenAPI 3 document with paths, as written by hand or by a generator. */
export interface OpenApiPathsDocument extends OpenApiDocument {
  paths?: Record<string, Record<string, unknown>>;
}

/**
 * Adds to an OpenAPI 3 document what Tollgate does on one Express route, from the very middleware
 * mounted there: the `Idempotency-Key` header, the problem+json responses (with a `ProblemDetails`
 * schema) and the `Idempotent-Replayed`, `Retry-After`, `RateLimit` and `RateLimit-Policy`
 * headers, as `createTollgateDocument` does for NestJS. Express keeps no route metadata, so each
 * route is named here; the operation is created if the document lacks it.
 *
 * @example
 * ```ts
 * const protection = idempotent({ store });
 * app.post('/orders/:id/pay', protection, pay);
 * documentTollgateRoute(document, 'post', '/orders/{id}/pay', protection);
 * ```
 */
export function documentTollgateRoute(
  document: OpenApiPathsDocument,
  method: string,
  path: string,
  ...middleware: readonly unknown[]
): void {
  const verb = method.toLowerCase();
  let idempotency: IdempotencyPolicy | null = null;
  let throttle: ThrottlePolicy | null = null;
  for (const handler of middleware) {
    const protection =
      typeof handler === 'function' ? protections.get(handler as object) : undefined;
    if (!protection) {
      throw new TollgateConfigError(
        'TOLLGATE_NOT_TOLLGATE_MIDDLEWARE',
        `documentTollgateRoute(${verb.toUpperCase()} ${path}) takes the middleware idempotent() and throttle() returned; pass those`,
      );
    }
    if (protection.kind === 'throttle') throttle = protection.policy;
    else if (protection.methods.has(verb.toUpperCase())) idempotency = protection.policy;
  }
  const item = ((document.paths ??= {})[path] ??= {});
  const operation = (item[verb] ??= { responses: {} }) as OpenApiOperation;
  if (!idempotency && !throttle) return;
  documentOperation(operation, idempotency, throttle);
  addComponents(document);
}
