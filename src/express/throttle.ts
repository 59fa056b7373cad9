import type { ServerResponse } from 'node:http';

import { TollgateConfigError, toError } from '../core/errors.js';
import type { RateLimitRejection } from '../core/ratelimit/decision.js';
import { RateLimitEngine } from '../core/ratelimit/engine.js';
import type { RateLimitEvent } from '../core/ratelimit/events.js';
import {
  isClientRef,
  rateLimiter,
  type RateLimitClient,
  type RateLimitClientRef,
} from '../core/ratelimit/limiter.js';
import type {
  RateLimitRequest,
  ThrottleLimits,
  ThrottleSettings,
} from '../core/ratelimit/options.js';
import { ownOptionNames, validateThrottleOptions } from '../core/ratelimit/option-names.js';
import type { BlockCacheOption } from '../core/ratelimit/block-cache.js';
import type { RateLimitResult } from '../core/store.js';
import { HandledRequests } from '../http/handled.js';
import { describeRateLimitRequest, describeRateLimitResponse } from '../http/rate-limit-request.js';
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

/**
 * Express middleware that rate limits the requests that reach it, and the admin API over its
 * limits: a request (or a client named with `{ counter, tracker | principal | address }`) can be
 * read, reset, penalised or rewarded. A request this middleware counted is acted on exactly where
 * it was counted.
 */
export interface ThrottleMiddleware<
  Req extends ExpressRequestLike = ExpressRequestLike,
> extends ExpressMiddleware<Req> {
  /** The client's state on every limit as a request would see it now; charges nothing. */
  get(client: Req | RateLimitClientRef): Promise<RateLimitResult>;
  /** Forgets the client's counters and blocks: it starts afresh (a login that succeeded). */
  reset(client: Req | RateLimitClientRef): Promise<void>;
  /** Takes `units` (default 1) from every limit of the client, at most emptying each. */
  penalty(client: Req | RateLimitClientRef, units?: number): Promise<void>;
  /** Gives `units` (default 1) back on every limit of the client, never beyond a whole quota. */
  reward(client: Req | RateLimitClientRef, units?: number): Promise<void>;
}

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
  /**
   * Refuse a client the store refused, until the moment the store said it would admit it, without
   * asking the store again: `true` or bounds (`{ maxEntries, maxBytes }`, default 10 000 and 4 MiB).
   * Needs RedisStore. Default off (docs/guarantees.md says what it keeps).
   */
  blockCache?: BlockCacheOption;
  /** Hears every decision, store call and failure (`openTelemetryEvents()` fits). Default: failures only, on the console, each kind at most every 10 s. */
  onEvent?: (event: RateLimitEvent) => void;
  /**
   * Answers a refused request instead of the default problem+json (429, 403 or 503): send any
   * body. `Retry-After` and the rate-limit headers are already set on `res`; `rejection.error`
   * holds the status and the problem (`toProblem()`). Default: the problem as it is.
   */
  handler?: (
    req: Req,
    res: ServerResponse,
    next: (error?: unknown) => void,
    rejection: RateLimitRejection,
  ) => void;
}

/**
 * The options `throttle()` takes besides the settings every adapter shares: with those, every name
 * it knows, so the core can refuse any other. Complete: an option added to
 * `ThrottleMiddlewareOptions` must be listed.
 */
const MIDDLEWARE_OPTIONS = ownOptionNames<ThrottleMiddlewareOptions>()(
  'limits',
  'store',
  'namespace',
  'scope',
  'route',
  'waitForStore',
  'blockCache',
  'onEvent',
  'handler',
);

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
  // Before anything reads them: a misspelled option would otherwise be ignored.
  validateThrottleOptions(options, { where: 'throttle(options)', own: MIDDLEWARE_OPTIONS });
  const {
    limits,
    store: storeOption,
    namespace,
    scope,
    route,
    onEvent,
    handler,
    waitForStore,
    blockCache,
    ...settings
  } = options;
  const store = storeOption ?? defaultStore();
  // Plain JavaScript can leave it out; a middleware that limits nothing must not pass silently.
  if (limits === undefined) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_LIMITS',
      "throttle() needs limits: throttle({ limits: { default: { limit: 5, ttl: '10s' } } }) ({} with only a denyList)",
    );
  }
  const engine = new RateLimitEngine(store, {
    ...(namespace === undefined ? {} : { namespace }),
    ...(onEvent === undefined ? {} : { onEvent }),
    ...(blockCache === undefined ? {} : { blockCache }),
  });
  // Validated and checked against the store now, so a typo fails when the app starts.
  const limiter = rateLimiter(engine, [{ limits, settings }]);
  const resolveScope = scope ?? defaultScope;
  // One mark per middleware: a request is counted once by each throttle() it passes (an app-wide
  // limit and a route's own both apply), but never twice by the same one.
  const handled = new HandledRequests();
  const describe = (req: Req): RateLimitRequest => {
    const template = typeof route === 'function' ? route(req) : (route ?? matchedRoute(req));
    // Before routing (`app.use()`): every path and method below the mount.
    if (template === undefined) {
      return describeRateLimitRequest(
        req,
        `${req.baseUrl ?? ''}/*`,
        resolveScope as ScopeResolver,
        true,
      );
    }
    return describeRateLimitRequest(req, template, resolveScope as ScopeResolver);
  };
  const client = (given: Req | RateLimitClientRef): RateLimitClient =>
    isClientRef(given) ? given : describe(given);

  const middleware: ExpressMiddleware<Req> = function tollgateThrottle(req, res, next) {
    if (!handled.mark(req)) {
      next();
      return;
    }
    let described;
    try {
      described = describe(req);
    } catch (error) {
      // A throwing scope or route function is the app's bug: Express's error handling reports it.
      next(toError(error));
      return;
    }

    const response = describeRateLimitResponse(res);
    limiter.admit(described, response).then(
      (decision) => {
        try {
          if (decision.action === 'reject') {
            if (!handler) {
              sendProblem(res, decision.error);
              return;
            }
            limiter.apply(decision, response);
            handler(req, res, next, { error: decision.error, result: decision.result });
            return;
          }
        } catch (error) {
          next(toError(error));
          return;
        }
        next();
      },
      // Only a throwing custom tracker, key, skip or limit function gets here: the app's bug.
      (error: unknown) => next(toError(error)),
    );
  };
  const served = afterStoreWait(store, waitForStore, middleware);
  // What documentTollgateRoute reads: the middleware the app mounts.
  rememberProtection(served, { kind: 'throttle', policy: limiter.policy });
  // Async, so a throwing scope or route function rejects like every other failure.
  return Object.assign(served, {
    get: async (given: Req | RateLimitClientRef) => limiter.get(client(given)),
    reset: async (given: Req | RateLimitClientRef) => limiter.reset(client(given)),
    penalty: async (given: Req | RateLimitClientRef, units?: number) =>
      limiter.penalty(client(given), units),
    reward: async (given: Req | RateLimitClientRef, units?: number) =>
      limiter.reward(client(given), units),
  });
}
