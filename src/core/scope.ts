import { TollgateHttpError } from './errors.js';

/**
 * Who is asking, for idempotency and rate limiting alike: the one definition both use, so a
 * request is never one user to the rate limiter and another (or everyone) to idempotency.
 */

/** Who is asking: a principal, or principal and tenant; `undefined` for an anonymous request. */
export type ScopeParts = string | ReadonlyArray<string | number | undefined> | undefined;

/** Who is asking, as parts of every storage key: principal and tenant. */
export type ScopeResolver<Request = unknown> = (request: Request) => ScopeParts;

/**
 * The scope of an authenticated user object, as Passport strategies and guards leave it: its `id`
 * (else `sub`, else `userId`) and its `tenantId`. No user is anonymous. A user object with none of
 * those fields cannot be told apart from any other user: it is refused with
 * `TOLLGATE_SCOPE_UNRESOLVED` rather than given a scope every such user would share, where one
 * user's stored response would be replayed to another.
 */
export function userScope(user: unknown): ScopeParts {
  if (user === undefined || user === null || user === false) return undefined;
  if (typeof user === 'string' || typeof user === 'number') {
    const id = idOf(user);
    if (id === undefined) throw unidentifiedUser([]);
    return [id, undefined];
  }
  if (typeof user !== 'object') throw unidentifiedUser([]);
  const record = user as Record<string, unknown>;
  const id = idOf(record.id) ?? idOf(record.sub) ?? idOf(record.userId);
  if (id === undefined) throw unidentifiedUser(Object.keys(record));
  return [id, idOf(record.tenantId)];
}

/**
 * The scope as one string, or `undefined` when the request is anonymous (no parts, or every part
 * empty). JSON keeps `["a:b"]` and `["a","b"]` apart, so no two scopes collide.
 */
export function scopeKey(parts: ScopeParts): string | undefined {
  if (parts === undefined) return undefined;
  if (typeof parts === 'string') return parts === '' ? undefined : JSON.stringify([parts]);
  if (parts.every((part) => part === undefined || part === null || part === '')) return undefined;
  return JSON.stringify(parts.map((part) => part ?? null));
}

/**
 * Who is asking, by `resolve`: the scope key, or `undefined` when anonymous. A user the resolver
 * cannot identify throws `TOLLGATE_SCOPE_UNRESOLVED` (see `userScope`).
 */
export function resolveScopeKey<Request>(
  request: Request,
  resolve: ScopeResolver<Request>,
): string | undefined {
  return scopeKey(resolve(request));
}

/** Whether `error` is the refusal of a user object without an id. */
export function isUnidentifiedUser(error: unknown): error is TollgateHttpError {
  return error instanceof TollgateHttpError && error.code === 'TOLLGATE_SCOPE_UNRESOLVED';
}

function idOf(value: unknown): string | number | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  return undefined;
}

function unidentifiedUser(fields: readonly string[]): TollgateHttpError {
  const seen = fields.length > 0 ? ` (it has ${fields.slice(0, 8).join(', ')})` : '';
  return new TollgateHttpError({
    code: 'TOLLGATE_SCOPE_UNRESOLVED',
    status: 500,
    slug: 'scope-unresolved',
    title: 'The caller cannot be identified',
    detail:
      `The authenticated user has no id, sub or userId${seen}, so the request cannot be kept ` +
      'apart from other users\u2019 and was not run. Server configuration: set the `scope` option ' +
      "to return the user's id, e.g. scope: (req) => [req.user.userId, req.user.tenantId].",
  });
}
