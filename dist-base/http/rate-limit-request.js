/**
 * Describes a request to the rate-limit engine; the adapter supplies what only it knows (the route
 * template). The principal comes from the same resolver idempotency scopes keys with, so one
 * setting decides "who is asking" for both.
 */
export function describeRateLimitRequest(request, route, resolveScope) {
    return {
        method: request.method,
        route,
        principal: principalOf(request, resolveScope),
        remoteAddress: request.socket?.remoteAddress,
        header: (name) => request.headers[name],
        raw: request,
    };
}
/**
 * The principal as one string, or `undefined` when the request is anonymous. A resolver that
 * finds a user object without any id (every part empty) also means anonymous: counting all such
 * requests as one "user" would let one client use up everyone's quota.
 */
function principalOf(request, resolveScope) {
    const scope = resolveScope(request);
    if (scope === undefined)
        return undefined;
    if (typeof scope === 'string')
        return JSON.stringify([scope]);
    if (scope.every((part) => part === undefined || part === null))
        return undefined;
    return JSON.stringify(scope.map((part) => part ?? null));
}
//# sourceMappingURL=rate-limit-request.js.map