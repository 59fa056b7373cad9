import { toError } from '../core/errors.js';
import {
  RateLimitEngine,
  storeCannotRateLimit,
  type RateLimitEvent,
} from '../core/ratelimit/engine.js';
import {
  resolveThrottlePolicy,
  type ThrottleLimits,
  type ThrottleSettings,
} from '../core/ratelimit/options.js';
import { HandledRequests } from '../http/handled.js';
import { describeRateLimitRequest } from '../http/rate-limit-request.js';
import { defaultScope, type ScopeResolver } from '../http/request.js';
import { sendProblem } from '../http/send.js';
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

/** Express middleware that rate limits the requests that reach it. */
export type ThrottleMiddleware<Req extends ExpressRequestLike = ExpressRequestLike> =
  ExpressMiddleware<Req>;

/** Options of `throttle()`: the named limits, where counters live, and who is counted. */
export interface ThrottleMiddlewareOptions<
  Req extends ExpressRequestLike = ExpressRequestLike,
> extends ThrottleSettings {
  /** Named limits, checked together in one atomic store call: `{ burst: { limit: 3, ttl: '1s' } }`. */
  limits: ThrottleLimits;
  /** Where counters live. Default: one in-memory store shared by every middleware without one (one process only). */
  store?: TollgateStore;
  /** Prefix of every storage key, so several apps can share one Redis. Default `tollgate`. */
  namespace?: string;
  /** The principal counted instead of the address when present. Default: `req.user.id` (or `sub`) and `req.user.tenantId`. */
  scope?: ScopeResolver<Req>;
  /**
   * The route whose counter a request uses (with its method). Default: the matched route when used
   * as route middleware, else the mount path (`req.baseUrl + '/*'`), so every path below an
   * `app.use()` shares one counter and a client cannot escape a limit by varying the path.
   */
  route?: RouteOption<Req>;
  /**
   * How long requests that arrive while the store is still connecting are held (the wait is
   * shared by every middleware on the store, and logs one line on the console while the store
   * cannot be reached). `false`: never hold them. Default `{ timeout: '5s' }`.
   */
  waitForStore?: ExpressWaitForStoreOptions | false;
  /** Hears every decision, store call and failure (`openTelemetryEvents()` fits). Default: failures only, on the console, each kind at most every 10 s. */
  onEvent?: (event: RateLimitEvent) => void;
}

/**
 * Express middleware that rate limits by named limits, all checked and charged in one atomic store
 * call: a rejected request consumes from none of them. Over a limit: 429 problem+json with
 * `Retry-After`; `RateLimit-Policy` and `RateLimit` headers as configured. It only translates
 * between Express and the core engine, so it keeps exactly the rules of the Nest guard.
 *
 * Put it after authentication, so a signed-in user is counted as themself rather than by address.
 *
 * @example
 * ```ts
 * const store = new RedisStore({ url: process.env.REDIS_URL });
 * app.get('/quotes', throttle({ store, limits: { burst: { limit: 5, ttl: '10s' } } }), quotes);
 * app.use('/api', throttle({ store, limits: { daily: { limit: 1000, ttl: '1d' } }, trustProxy: 1 }));
 * ```
 */
export function throttle<Req extends ExpressRequestLike = ExpressRequestLike>(
  options: ThrottleMiddlewareOptions<Req>,
): ThrottleMiddleware<Req> {
  const {
    limits,
    store: given,
    namespace,
    scope,
    route,
    onEvent,
    waitForStore,
    ...settings
  } = options;
  const store = given ?? defaultStore();
  // Validated now, so a typo fails when the app starts, not on the first request.
  const policy = resolveThrottlePolicy([{ limits, settings }]);
  const engine = new RateLimitEngine(store, {
    ...(namespace === undefined ? {} : { namespace }),
    ...(onEvent === undefined ? {} : { onEvent }),
  });
  if (!engine.storeSupportsRateLimiting) throw storeCannotRateLimit();
  const resolveScope = scope ?? defaultScope;
  // One mark per middleware: a request is counted once by each throttle() it passes (an app-wide
  // limit and a route's own both apply), but never twice by the same one.
  const handled = new HandledRequests();

  const middleware: ThrottleMiddleware<Req> = function tollgateThrottle(req, res, next) {
    if (!handled.mark(req)) {
      next();
      return;
    }
    let described;
    try {
      const template = typeof route === 'function' ? route(req) : (route ?? routeOf(req));
      described = describeRateLimitRequest(req, template, resolveScope as ScopeResolver);
    } catch (error) {
      // A throwing scope or route function is the app's bug: Express's error handling reports it.
      next(toError(error));
      return;
    }

    engine.check(described, policy).then(
      (decision) => {
        try {
          if (decision.action === 'reject') {
            sendProblem(res, decision.error);
            return;
          }
          const headers = decision.headers;
          for (const name in headers) res.setHeader(name, headers[name] as string);
        } catch (error) {
          next(toError(error));
          return;
        }
        next();
      },
      // Only a throwing custom tracker or key function gets here: the app's bug, reported as such.
      (error: unknown) => next(toError(error)),
    );
  };
  const served = afterStoreWait(store, waitForStore, middleware);
  // What documentTollgateRoute reads: the middleware the app mounts.
  rememberProtection(served, { kind: 'throttle', policy });
  return served;
}

function routeOf(req: ExpressRequestLike): string {
  return matchedRoute(req) ?? `${req.baseUrl ?? ''}/*`;
}
