import { StoreUnavailableError, toError } from './errors.js';
/**
 * How often overdue calls are given up. A deadline fires between `ms` and `ms + SWEEP_MS` after
 * the call: one shared timer instead of a timer and a `Promise.race` per store call, which the
 * request path makes once or twice per request.
 */
const SWEEP_MS = 20;
const pending = new Set();
let sweeper;
function sweep() {
    const now = Date.now();
    for (const call of pending) {
        if (call.expiresAt <= now) {
            pending.delete(call);
            call.giveUp();
        }
    }
    if (pending.size === 0) {
        clearInterval(sweeper);
        sweeper = undefined;
    }
}
/**
 * Runs a store call under a hard deadline. A store that fails or stays silent becomes a
 * `StoreUnavailableError`, so the route's policy decides: no request ever hangs on the store.
 */
export function withDeadline(what, ms, call) {
    return new Promise((resolve, reject) => {
        const entry = {
            expiresAt: Date.now() + ms,
            giveUp: () => reject(new StoreUnavailableError(`the store did not answer ${what} within ${ms} ms`)),
        };
        const fail = (error) => {
            if (!pending.delete(entry))
                return; // already given up: the late failure changes nothing
            reject(new StoreUnavailableError(`the store failed ${what}: ${toError(error).message}`, {
                cause: error,
            }));
        };
        pending.add(entry);
        if (!sweeper) {
            sweeper = setInterval(sweep, SWEEP_MS);
            // Waiting calls never keep the process alive on their own.
            sweeper.unref();
        }
        let answer;
        try {
            answer = call();
        }
        catch (error) {
            fail(error);
            return;
        }
        answer.then((value) => {
            if (pending.delete(entry))
                resolve(value);
        }, fail);
    });
}
//# sourceMappingURL=deadline.js.map