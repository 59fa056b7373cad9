/**
 * Which requests a kind of protection has already taken, so that registering it twice (app-wide
 * and on a route, or a global interceptor and a decorator) never runs it twice for one request.
 *
 * Kept beside the request in a WeakSet rather than as a property on it: Express re-prototypes
 * every request and response, and a property added to such an object copies its whole map
 * (about 2 KB) on every request.
 */
export declare class HandledRequests {
    private readonly seen;
    constructor(seen?: WeakSet<object>);
    /** Marks `request`; false when it was marked already. */
    mark(request: object): boolean;
    has(request: object): boolean;
}
/**
 * One set per name for the whole process, found through the global symbol registry, so two
 * copies of Tollgate in one app (a Nest interceptor and an Express middleware from different
 * installs) still see each other's marks.
 */
export declare function sharedHandledRequests(name: string): HandledRequests;
/** Requests that idempotency (the Nest interceptor or the Express middleware) has taken. */
export declare const idempotencyHandled: HandledRequests;
//# sourceMappingURL=handled.d.ts.map