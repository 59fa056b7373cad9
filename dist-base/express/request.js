/**
 * The matched route template (`/orders/:id`, with the router's mount path), or `undefined` when
 * the middleware runs before routing (`app.use()`), where Express has not matched a route yet.
 */
export function matchedRoute(req) {
    const path = req.route?.path;
    // Express also matches arrays of paths and regular expressions; both print stably.
    if (path === undefined || path === null)
        return undefined;
    return (req.baseUrl ?? '') + String(path);
}
//# sourceMappingURL=request.js.map