import { UNREADABLE_BODY } from '../core/fingerprint.js';
/** `request.user.id` (or `sub`) and `request.user.tenantId`, as most Passport strategies and guards set them. */
export const defaultScope = (request) => {
    const user = request?.user;
    if (!user || typeof user !== 'object')
        return undefined;
    const id = user.id ?? user.sub;
    const tenant = user.tenantId;
    return [
        typeof id === 'string' || typeof id === 'number' ? id : undefined,
        typeof tenant === 'string' || typeof tenant === 'number' ? tenant : undefined,
    ];
};
/** The scope as one string: JSON keeps `["a:b"]` and `["a","b"]` apart, so no two scopes collide. */
export function scopeOf(request, resolve) {
    const scope = resolve(request);
    if (scope === undefined)
        return 'anonymous';
    return JSON.stringify(typeof scope === 'string' ? [scope] : scope.map((part) => part ?? null));
}
/** Describes a request to the idempotency engine; the adapter supplies what only it knows. */
export function describeHttpRequest(request, route, scope) {
    return new DescribedHttpRequest(request, route, scope);
}
/** One object per request, its methods on the prototype: no closures made per request. */
class DescribedHttpRequest {
    request;
    route;
    scope;
    method;
    body;
    params;
    constructor(request, route, scope) {
        this.request = request;
        this.route = route;
        this.scope = scope;
        this.method = request.method;
        this.body = bodyOf(request);
        // The engine reads own fields only (Object.keys), so the object is passed as it is.
        const params = request.params;
        this.params =
            typeof params === 'object' && params !== null
                ? params
                : undefined;
    }
    header(name) {
        return this.request.headers[name];
    }
    query(name) {
        const query = this.request.query;
        if (typeof query !== 'object' || query === null)
            return undefined;
        // Own fields only: a query field named `constructor` must not read the prototype.
        if (!Object.prototype.hasOwnProperty.call(query, name))
            return undefined;
        const value = query[name];
        return typeof value === 'string' ? value : Array.isArray(value) ? value.join(',') : undefined;
    }
}
/**
 * A parsed body is hashed in canonical form; an unparsed one as its raw bytes when the app keeps
 * them. A body that was sent but that no parser read is `UNREADABLE_BODY`: never "no body".
 */
function bodyOf(request) {
    const body = request.body;
    if (request.rawBody && (body === undefined || body === null || isEmptyObject(body))) {
        return request.rawBody;
    }
    const unparsed = body === undefined || body === null || (isEmptyObject(body) && !isFormOrJson(request));
    if (unparsed && hasBody(request))
        return UNREADABLE_BODY;
    return body;
}
function isEmptyObject(value) {
    if (typeof value !== 'object' || value === null || Buffer.isBuffer(value))
        return false;
    for (const _ in value)
        return false;
    return true;
}
/** Express 4's body parsers leave `{}` when they skip a body: only JSON or a form can really be `{}`. */
function isFormOrJson(request) {
    const type = request.headers['content-type'];
    return typeof type === 'string' && /json|x-www-form-urlencoded/i.test(type);
}
function hasBody(request) {
    const length = request.headers['content-length'];
    if (typeof length === 'string')
        return length.trim() !== '0';
    return request.headers['transfer-encoding'] !== undefined;
}
//# sourceMappingURL=request.js.map