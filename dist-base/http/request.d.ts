import type { IdempotencyRequest } from '../core/idempotency/engine.js';
/**
 * What every Node.js web framework's request has that Tollgate reads: Express's, Fastify's and
 * Nest's (on either) all match it structurally, so the adapters need no framework as a dependency.
 */
export interface HttpRequestLike {
    method: string;
    headers: Record<string, string | string[] | undefined>;
    query?: unknown;
    /** The parsed body (JSON, form), raw bytes or text, as the app's body parser left it. */
    body?: unknown;
    /** The unparsed body, where the app keeps it (Nest's `rawBody: true`). */
    rawBody?: Buffer;
    /** The authenticated principal, as Passport and most guards set it. */
    user?: unknown;
    /** Path parameters of the matched route (Express, Fastify and Nest on either set them). */
    params?: unknown;
}
/** Who is asking: a principal, or principal and tenant; `undefined` for an anonymous request. */
export type ScopeParts = string | ReadonlyArray<string | number | undefined> | undefined;
/** Who is asking, as parts of every storage key: principal and tenant. */
export type ScopeResolver<Request = unknown> = (request: Request) => ScopeParts;
/** `request.user.id` (or `sub`) and `request.user.tenantId`, as most Passport strategies and guards set them. */
export declare const defaultScope: ScopeResolver;
/** The scope as one string: JSON keeps `["a:b"]` and `["a","b"]` apart, so no two scopes collide. */
export declare function scopeOf<Request>(request: Request, resolve: ScopeResolver<Request>): string;
/** Describes a request to the idempotency engine; the adapter supplies what only it knows. */
export declare function describeHttpRequest(request: HttpRequestLike, route: string, scope: string): IdempotencyRequest;
//# sourceMappingURL=request.d.ts.map