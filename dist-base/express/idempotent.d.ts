import { type IdempotencyEvent } from '../core/idempotency/engine.js';
import { type IdempotencyOptions } from '../core/idempotency/options.js';
import { type ScopeResolver } from '../http/request.js';
import type { TollgateStore } from '../stores/store.js';
import { type ExpressMiddleware, type ExpressRequestLike, type RouteOption } from './request.js';
/** Express middleware that protects a route against duplicate requests. */
export type IdempotencyMiddleware<Req extends ExpressRequestLike = ExpressRequestLike> = ExpressMiddleware<Req>;
/** Options of `idempotent()`: where results live, who is asking, and the route's idempotency options. */
export interface IdempotentMiddlewareOptions<Req extends ExpressRequestLike = ExpressRequestLike> extends IdempotencyOptions {
    /** Where keys and results live. Default: one in-memory store shared by every `idempotent()` without one (one process only). */
    store?: TollgateStore;
    /** Prefix of every storage key, so several apps can share one Redis. Default `tollgate`. */
    namespace?: string;
    /** The principal and tenant keys are scoped to. Default: `req.user.id` (or `sub`) and `req.user.tenantId` when present. */
    scope?: ScopeResolver<Req>;
    /**
     * The route template that keys and fingerprints are scoped to. Default: the matched route
     * (`req.baseUrl + req.route.path`) when used as route middleware, else the concrete path
     * (`req.baseUrl + req.path`), which Express has not matched to a route yet.
     */
    route?: RouteOption<Req>;
    /** Methods the middleware protects; others pass straight through. Default POST, PUT, PATCH and DELETE. */
    methods?: readonly string[];
    /** Receives events worth logging or counting. Default: warnings on the console. */
    onEvent?: (event: IdempotencyEvent) => void;
}
/**
 * Express middleware that runs the rest of the route once per idempotency key (or request
 * fingerprint) and replays its response to every duplicate. It only translates between Express
 * and the core engine, so it keeps exactly the rules of the Nest adapter.
 *
 * Put it in the route, after the body parser and after authentication (so `req.user` scopes keys):
 *
 * @example
 * ```ts
 * const store = new RedisStore({ url: process.env.REDIS_URL });
 * app.use(express.json());
 * app.post('/orders', idempotent({ store }), createOrder);
 * app.post('/reports', idempotent({ store, strategy: 'fingerprint', window: '5s' }), report);
 * ```
 */
export declare function idempotent<Req extends ExpressRequestLike = ExpressRequestLike>(options?: IdempotentMiddlewareOptions<Req>): IdempotencyMiddleware<Req>;
//# sourceMappingURL=idempotent.d.ts.map