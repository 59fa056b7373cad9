import { toError } from '../core/errors.js';
import { RateLimitEngine, storeCannotRateLimit, } from '../core/ratelimit/engine.js';
import { resolveThrottlePolicy, } from '../core/ratelimit/options.js';
import { HandledRequests } from '../http/handled.js';
import { describeRateLimitRequest } from '../http/rate-limit-request.js';
import { defaultScope } from '../http/request.js';
import { sendProblem } from '../http/send.js';
import { defaultStore } from './default-store.js';
import { matchedRoute, } from './request.js';
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
export function throttle(options) {
    const { limits, store, namespace, scope, route, onEvent, ...settings } = options;
    // Validated now, so a typo fails when the app starts, not on the first request.
    const policy = resolveThrottlePolicy([{ limits, settings }]);
    const engine = new RateLimitEngine(store ?? defaultStore(), {
        ...(namespace === undefined ? {} : { namespace }),
        ...(onEvent === undefined ? {} : { onEvent }),
    });
    if (!engine.storeSupportsRateLimiting)
        throw storeCannotRateLimit();
    const resolveScope = scope ?? defaultScope;
    // One mark per middleware: a request is counted once by each throttle() it passes (an app-wide
    // limit and a route's own both apply), but never twice by the same one.
    const handled = new HandledRequests();
    return function tollgateThrottle(req, res, next) {
        if (!handled.mark(req)) {
            next();
            return;
        }
        let described;
        try {
            const template = typeof route === 'function' ? route(req) : (route ?? routeOf(req));
            described = describeRateLimitRequest(req, template, resolveScope);
        }
        catch (error) {
            // A throwing scope or route function is the app's bug: Express's error handling reports it.
            next(toError(error));
            return;
        }
        engine.check(described, policy).then((decision) => {
            try {
                if (decision.action === 'reject') {
                    sendProblem(res, decision.error);
                    return;
                }
                const headers = decision.headers;
                for (const name in headers)
                    res.setHeader(name, headers[name]);
            }
            catch (error) {
                next(toError(error));
                return;
            }
            next();
        }, 
        // Only a throwing custom tracker or key function gets here: the app's bug, reported as such.
        (error) => next(toError(error)));
    };
}
function routeOf(req) {
    return matchedRoute(req) ?? `${req.baseUrl ?? ''}/*`;
}
//# sourceMappingURL=throttle.js.map