import type { ServerResponse } from 'node:http';

import { toError } from '../core/errors.js';
import {
  IdempotencyEngine,
  type Execution,
  type IdempotencyDecision,
  type IdempotencyEvent,
} from '../core/idempotency/engine.js';
import { Lease, type IdempotencyLease } from '../core/lease/lease.js';
import type { IdempotencyOptions } from '../core/idempotency/options.js';
import { idempotency } from '../core/idempotency/route.js';
import type { ResultCacheOption } from '../core/idempotency/result-cache.js';
import { isUnidentifiedUser } from '../core/scope.js';
import { idempotencyHandled } from '../http/handled.js';
import { attachLease, leaseOf } from '../http/leases.js';
import { defaultScope, describeHttpRequest, scopeOf, type ScopeResolver } from '../http/request.js';
import { settleClosedResponse } from '../http/disconnect.js';
import { ResponseCapture } from '../http/response-capture.js';
import { sendProblem, sendReplay } from '../http/send.js';
import type { TollgateStore } from '../core/store.js';
import { defaultStore } from './default-store.js';
import { afterStoreWait, type ExpressWaitForStoreOptions } from './startup.js';
import { rememberProtection } from './openapi.js';
import {
  matchedRoute,
  type ExpressMiddleware,
  type ExpressRequestLike,
  type RouteOption,
} from './request.js';

/** Express middleware that protects a route against duplicate requests. */
export type IdempotentMiddleware<Req extends ExpressRequestLike = ExpressRequestLike> =
  ExpressMiddleware<Req>;

/** Options of `idempotent()`: where results live, who is asking, and the route's idempotency options. */
export interface IdempotentMiddlewareOptions<
  Req extends ExpressRequestLike = ExpressRequestLike,
> extends IdempotencyOptions {
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
  /**
   * How long requests that arrive while the store is still connecting are held (the wait is
   * shared by every middleware on the store, and logs one line on the console while the store
   * cannot be reached). `false`: never hold them. Default `{ timeout: '5s' }`.
   */
  waitForStore?: ExpressWaitForStoreOptions | false;
  /** Hears every decision, store call and failure (`openTelemetryEvents()` fits). Default: failures only, on the console, each kind at most every 10 s. */
  onEvent?: (event: IdempotencyEvent) => void;
  /**
   * Keep completed results in the process, so a replay costs no store call: `true` or bounds
   * (`{ maxEntries, maxBytes }`, default 10 000 and 16 MiB). Needs RedisStore or QuorumStore.
   * Default off (docs/guarantees.md says why).
   */
  resultCache?: ResultCacheOption;
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
export function idempotent<Req extends ExpressRequestLike = ExpressRequestLike>(
  options: IdempotentMiddlewareOptions<Req> = {},
): IdempotentMiddleware<Req> {
  const {
    store: given,
    namespace,
    scope,
    route,
    methods,
    onEvent,
    waitForStore,
    resultCache,
    ...routeOptions
  } = options;
  const store = given ?? defaultStore();
  const engine = new IdempotencyEngine(store, {
    ...(namespace === undefined ? {} : { namespace }),
    ...(onEvent === undefined ? {} : { onEvent }),
    ...(resultCache === undefined ? {} : { resultCache }),
  });
  // Validated now, so a typo fails when the app starts, not on the first request.
  const protection = idempotency(engine, { route: routeOptions, decorated: true, methods });
  const resolveScope = (scope ?? defaultScope) as ScopeResolver<Req>;
  ResponseCapture.prepare();

  const middleware: IdempotentMiddleware<Req> = function tollgateIdempotency(req, res, next) {
    if (!protection.protects(req.method) || !idempotencyHandled.mark(req)) {
      next();
      return;
    }

    let described;
    let template: string | undefined;
    try {
      template = typeof route === 'function' ? route(req) : (route ?? routeOf(req));
      described = describeHttpRequest(req, template, scopeOf(req, resolveScope));
    } catch (error) {
      // A user the scope cannot identify is refused, never lumped together with other users.
      if (isUnidentifiedUser(error) && template !== undefined) {
        act(protection.refuse(template, req.method, error), req, res);
        return;
      }
      // A throwing scope or route function is the app's bug: Express's error handling reports it.
      next(toError(error));
      return;
    }

    protection.begin(described).then(
      (decision) => {
        let runHandler: boolean;
        try {
          runHandler = act(decision, req, res);
        } catch (error) {
          next(toError(error));
          return;
        }
        if (runHandler) next();
      },
      (error: unknown) => next(toError(error)),
    );
  };
  const served = afterStoreWait(store, waitForStore, middleware);
  // What documentTollgateRoute reads: the middleware the app mounts.
  rememberProtection(served, {
    kind: 'idempotency',
    policy: protection.policy,
    methods: protection.methods ?? new Set(),
  });
  return served;
}

/** Carries out the engine's decision; true when the route's handlers should run. */
function act(decision: IdempotencyDecision, req: object, res: ServerResponse): boolean {
  switch (decision.action) {
    case 'proceed':
      exposeLease(req, decision.execution.lease);
      if (decision.execution.tracked) track(decision.execution, res);
      return true;
    case 'replay':
      sendReplay(res, decision.response);
      return false;
    case 'reject':
      sendProblem(res, decision.error);
      return false;
    case 'bypass':
      return true;
  }
}

/**
 * The route template: Express knows the matched route only inside the route itself. Mounted with
 * `app.use()`, the middleware runs before routing, so the concrete path stands in (narrower, so
 * never a wrong replay, but `/orders/1` and `/orders/2` then differ); pass `route` there.
 */
function routeOf(req: ExpressRequestLike): string {
  return matchedRoute(req) ?? (req.baseUrl ?? '') + (req.path ?? '');
}

/**
 * Records how the response ends, however it ends: `res.json`, `res.send`, `res.sendStatus`,
 * `res.end`, or an error handler after `next(err)` all end in `res.end()`, which is captured.
 */
function track(execution: Execution, res: ServerResponse): void {
  // Express's own responses are written in one `end()`; a body written piece by piece is a
  // stream (`res.write`, `res.sendFile`, a piped Readable), passed through and never stored.
  const capture = ResponseCapture.attach(res, execution, {
    maxBytes: execution.maxResponseBytes,
    writes: 'stream',
    // `res.writeHead(status, headers)` on a response with no header set before (an app without
    // X-Powered-By) sends them without Node keeping them: res.getHeaders() would not have them.
    headersFromWriteHead: true,
    watchDestroy: true,
  });

  // A response that closes without `end()` is never captured. 'close' comes once, so `on` (no
  // wrapper per request, as `once` makes). On Express 'close' can come while the handler still
  // runs and may yet answer (a client that left); only the app destroying the response itself
  // says no answer will come.
  res.on('close', () => {
    settleClosedResponse(execution, res, capture, capture.destroyedByApp);
  });
}

/** Prototypes that have the `idempotency` getter: defined once, never per request. */
const exposedOn = new WeakSet<object>();

/**
 * Makes the request's lease readable as `req.idempotency`. The getter lives on the request's
 * prototype (Express's `app.request`), so no property is added to each request object, which
 * would cost every protected request a copy of its hidden class.
 */
function exposeLease(req: object, lease: IdempotencyLease): void {
  attachLease(req, lease);
  const proto: unknown = Object.getPrototypeOf(req);
  if (typeof proto !== 'object' || proto === null || exposedOn.has(proto)) return;
  exposedOn.add(proto);
  if (Object.prototype.hasOwnProperty.call(proto, LEASE_PROPERTY)) return;
  Object.defineProperty(proto, LEASE_PROPERTY, {
    configurable: true,
    enumerable: false,
    get(this: { res?: { statusCode: number } }): IdempotencyLease | undefined {
      const lease = leaseOf(this);
      // A result recorded in a transaction has the status the handler has set by then, read from
      // the response. Bound here, when the handler reads its lease, and not when the request is
      // taken: see `Execution.transaction` for why a lease must not lead back to its response.
      if (lease instanceof Lease && this.res !== undefined) lease.statusSource ??= this.res;
      return lease;
    },
  });
}

/** The name under which a handler reads its lease: `req.idempotency`. */
const LEASE_PROPERTY = 'idempotency';
