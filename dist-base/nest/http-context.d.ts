import type { ServerResponse } from 'node:http';
import type { ExecutionContext } from '@nestjs/common';
import type { IdempotencyRequest } from '../core/idempotency/engine.js';
import { type HttpRequestLike, type ScopeResolver } from '../http/request.js';
/** Express's and Fastify's requests under Nest: what the route template is read from. */
interface PlatformRequest extends HttpRequestLike {
    /** Express */
    route?: {
        path?: unknown;
    };
    baseUrl?: string;
    /** Fastify */
    routeOptions?: {
        url?: string;
    };
}
/** The Node.js response under the platform's: Express's response is one, Fastify's reply wraps one. */
export declare function rawResponse(response: unknown): ServerResponse;
/**
 * The route template, so `/orders/1` and `/orders/2` share a route but never a key: Express's
 * matched path, Fastify's route URL, or else the controller and handler names.
 */
export declare function routeTemplate(context: ExecutionContext, request: PlatformRequest): string;
export declare function describeRequest(context: ExecutionContext, request: unknown, resolveScope: ScopeResolver): IdempotencyRequest;
/**
 * Whether the handler sends its response itself (`@Res()` or `@Next()` without passthrough), as
 * Nest decides it: Nest then sends nothing that an interceptor returns.
 */
export declare function handlerSendsResponse(context: ExecutionContext): boolean;
export {};
//# sourceMappingURL=http-context.d.ts.map