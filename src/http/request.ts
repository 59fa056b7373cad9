import { UNREADABLE_BODY } from '../core/fingerprint.js';
import type { IdempotencyRequest } from '../core/idempotency/engine.js';
import { scopeKey, userScope, type ScopeResolver } from '../core/scope.js';

export type { ScopeParts, ScopeResolver } from '../core/scope.js';

/**
 * What every Node.js web framework's request has that Tollgate reads: Express's, Fastify's and
 * Nest's (on either) all match it structurally, so the adapters need no framework as a dependency.
 */
export interface HttpRequestLike {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  query?: unknown;
  /** The parsed body (JSON, form), raw bytes or text, as the app's body parser left it. */
  body?: unknown;
  /** The unparsed body, where the app keeps it (Nest's `rawBody: true`). */
  rawBody?: Buffer;
  /** The authenticated principal, as Passport and most guards set it. */
  user?: unknown;
  /** Path parameters of the matched route (Express, Fastify and Nest on either set them). */
  params?: unknown;
  /** Express's and Fastify's requests both expose the Node.js socket here. */
  socket?: { remoteAddress?: string | undefined } | undefined;
}

/**
 * `request.user.id` (else `sub`, else `userId`) and `request.user.tenantId`, as most Passport
 * strategies and guards set them; no user is anonymous. A user object without any of those ids is
 * refused (`TOLLGATE_SCOPE_UNRESOLVED`) rather than lumped together with every other such user.
 */
export const defaultScope: ScopeResolver = (request) =>
  userScope((request as HttpRequestLike | undefined)?.user);

/** Who is asking, as one string, or `undefined` when anonymous (see `scopeKey`). */
export function scopeOf<Request>(
  request: Request,
  resolve: ScopeResolver<Request>,
): string | undefined {
  return scopeKey(resolve(request));
}

/** Describes a request to the idempotency engine; the adapter supplies what only it knows. */
export function describeHttpRequest(
  request: HttpRequestLike,
  route: string,
  scope: string | undefined,
): IdempotencyRequest {
  return new DescribedHttpRequest(request, route, scope);
}

/** One object per request, its methods on the prototype: no closures made per request. */
class DescribedHttpRequest implements IdempotencyRequest {
  readonly method: string;
  readonly body: unknown;
  readonly params: Readonly<Record<string, unknown>> | undefined;

  constructor(
    private readonly request: HttpRequestLike,
    readonly route: string,
    readonly scope: string | undefined,
  ) {
    this.method = request.method;
    this.body = bodyOf(request);
    // The engine reads own fields only (Object.keys), so the object is passed as it is.
    const params = request.params;
    this.params =
      typeof params === 'object' && params !== null
        ? (params as Record<string, unknown>)
        : undefined;
  }

  get remoteAddress(): string | undefined {
    return this.request.socket?.remoteAddress;
  }

  header(name: string): string | readonly string[] | undefined {
    return this.request.headers[name];
  }

  query(name: string): string | undefined {
    const query = this.request.query;
    if (typeof query !== 'object' || query === null) return undefined;
    // Own fields only: a query field named `constructor` must not read the prototype.
    if (!Object.prototype.hasOwnProperty.call(query, name)) return undefined;
    const value = (query as Record<string, unknown>)[name];
    return typeof value === 'string' ? value : Array.isArray(value) ? value.join(',') : undefined;
  }
}

/**
 * A parsed body is hashed in canonical form; an unparsed one as its raw bytes when the app keeps
 * them. A body that was sent but that no parser read is `UNREADABLE_BODY`: never "no body".
 */
function bodyOf(request: HttpRequestLike): unknown {
  const body = request.body;
  if (request.rawBody && (body === undefined || body === null || isEmptyObject(body))) {
    return request.rawBody;
  }
  const unparsed =
    body === undefined || body === null || (isEmptyObject(body) && !isFormOrJson(request));
  if (unparsed && hasBody(request)) return UNREADABLE_BODY;
  return body;
}

function isEmptyObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return false;
  for (const _ in value) return false;
  return true;
}

/** Express 4's body parsers leave `{}` when they skip a body: only JSON or a form can really be `{}`. */
function isFormOrJson(request: HttpRequestLike): boolean {
  const type = request.headers['content-type'];
  return typeof type === 'string' && /json|x-www-form-urlencoded/i.test(type);
}

function hasBody(request: HttpRequestLike): boolean {
  const length = request.headers['content-length'];
  if (typeof length === 'string') return length.trim() !== '0';
  return request.headers['transfer-encoding'] !== undefined;
}
