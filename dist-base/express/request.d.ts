import type { ServerResponse } from 'node:http';
import type { HttpRequestLike } from '../http/request.js';
/**
 * The parts of an Express (4 or 5) request that the middleware reads, described structurally so
 * that Tollgate needs neither `express` nor `@types/express` as a dependency.
 */
export interface ExpressRequestLike extends HttpRequestLike {
    /** The connection: its peer address counts an anonymous client in `throttle()`. */
    socket?: {
        remoteAddress?: string | undefined;
    } | undefined;
    /** The matched route; set only while the route's own handlers run. */
    route?: {
        path?: unknown;
    };
    /** The path the current router is mounted at. */
    baseUrl?: string;
    /** The request path, relative to `baseUrl`. */
    path?: string;
}
/** Express's `next`: call it to run the next handler, or with an error to run the error handlers. */
export type NextFunctionLike = (error?: unknown) => void;
/** A middleware that Express 4 and 5 accept wherever a `RequestHandler` goes. */
export type ExpressMiddleware<Req extends ExpressRequestLike = ExpressRequestLike> = (req: Req, res: ServerResponse, next: NextFunctionLike) => void;
/** A fixed route name, or one computed from the request. */
export type RouteOption<Req> = string | ((req: Req) => string);
/**
 * The matched route template (`/orders/:id`, with the router's mount path), or `undefined` when
 * the middleware runs before routing (`app.use()`), where Express has not matched a route yet.
 */
export declare function matchedRoute(req: ExpressRequestLike): string | undefined;
//# sourceMappingURL=request.d.ts.map