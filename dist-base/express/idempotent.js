import { toError } from '../core/errors.js';
import { IdempotencyEngine, } from '../core/idempotency/engine.js';
import { resolveIdempotencyPolicy, UNSAFE_METHODS, } from '../core/idempotency/options.js';
import { idempotencyHandled } from '../http/handled.js';
import { defaultScope, describeHttpRequest, scopeOf } from '../http/request.js';
import { ResponseCapture } from '../http/response-capture.js';
import { sendProblem, sendReplay } from '../http/send.js';
import { defaultStore } from './default-store.js';
import { matchedRoute, } from './request.js';
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
export function idempotent(options = {}) {
    const { store, namespace, scope, route, methods, onEvent, ...routeOptions } = options;
    // Validated now, so a typo fails when the app starts, not on the first request.
    const policy = resolveIdempotencyPolicy(routeOptions, undefined, { decorated: true });
    const engine = new IdempotencyEngine(store ?? defaultStore(), {
        ...(namespace === undefined ? {} : { namespace }),
        ...(onEvent === undefined ? {} : { onEvent }),
    });
    const protectedMethods = new Set((methods ?? [...UNSAFE_METHODS]).map((m) => m.toUpperCase()));
    const resolveScope = (scope ?? defaultScope);
    ResponseCapture.prepare();
    return function tollgateIdempotency(req, res, next) {
        if (!protectedMethods.has(req.method.toUpperCase()) || !idempotencyHandled.mark(req)) {
            next();
            return;
        }
        let described;
        try {
            const template = typeof route === 'function' ? route(req) : (route ?? routeOf(req));
            described = describeHttpRequest(req, template, scopeOf(req, resolveScope));
        }
        catch (error) {
            // A throwing scope or route function is the app's bug: Express's error handling reports it.
            next(toError(error));
            return;
        }
        engine.begin(described, policy).then((decision) => {
            let runHandler;
            try {
                runHandler = act(decision, res, policy);
            }
            catch (error) {
                next(toError(error));
                return;
            }
            if (runHandler)
                next();
        }, (error) => next(toError(error)));
    };
}
/** Carries out the engine's decision; true when the route's handlers should run. */
function act(decision, res, policy) {
    switch (decision.action) {
        case 'proceed':
            if (decision.execution.tracked)
                track(decision.execution, res, policy.leaseMs);
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
function routeOf(req) {
    return matchedRoute(req) ?? (req.baseUrl ?? '') + (req.path ?? '');
}
/**
 * Records how the response ends, however it ends: `res.json`, `res.send`, `res.sendStatus`,
 * `res.end`, or an error handler after `next(err)` all end in `res.end()`, which is captured.
 */
function track(execution, res, leaseMs) {
    // Express's own responses are written in one `end()`; a body written piece by piece is a
    // stream (`res.write`, `res.sendFile`, a piped Readable), passed through and never stored.
    const capture = ResponseCapture.attach(res, execution, {
        maxBytes: execution.maxResponseBytes,
        writes: 'stream',
        watchDestroy: true,
    });
    // A response that closes without `end()` is never captured; its key must not stay in progress.
    // 'close' comes once, so `on` (no wrapper per request, as `once` makes).
    res.on('close', () => {
        if (capture.ended)
            return;
        if (capture.destroyedByApp || res.headersSent) {
            // The app gave up on this response (destroyed it, or failed mid-body): let a retry run.
            void execution.abandon();
            return;
        }
        // The client left while the handler still runs. Its result is still stored if it ends the
        // response within one lease; a handler that never does frees the key after that.
        setTimeout(() => {
            if (!capture.ended)
                void execution.abandon();
        }, leaseMs).unref();
    });
}
//# sourceMappingURL=idempotent.js.map