import type { ServerResponse } from 'node:http';

import type { RateLimitResponse } from '../core/ratelimit/decision.js';
import type { RateLimitRequest } from '../core/ratelimit/options.js';
import { isUnidentifiedUser, resolveScopeKey } from '../core/scope.js';
import type { HttpRequestLike, ScopeResolver } from './request.js';
import { whenResponseDone } from './response-done.js';

/** What the rate limiter reads besides what every adapter already describes: the TCP peer. */
export type RateLimitHttpRequestLike = HttpRequestLike;

/**
 * Describes a request to the rate-limit engine; the adapter supplies what only it knows (the route
 * template). The principal comes from the same resolver idempotency scopes keys with, so one
 * setting decides "who is asking" for both.
 */
export function describeRateLimitRequest(
  request: RateLimitHttpRequestLike,
  route: string,
  resolveScope: ScopeResolver,
  anyMethod = false,
): RateLimitRequest {
  return {
    method: request.method,
    route,
    anyMethod,
    principal: principalOf(request, resolveScope),
    remoteAddress: request.socket?.remoteAddress,
    header: (name) => request.headers[name],
    frameworkAddress: () => frameworkIp(request),
    raw: request,
  };
}

/**
 * The principal as one string, or `undefined` when the request is anonymous: the scope
 * idempotency uses. A user the resolver cannot identify is counted by its address, as anonymous
 * requests are: counting every such user as one would let one client use up everyone's quota.
 */
function principalOf(request: unknown, resolveScope: ScopeResolver): string | undefined {
  try {
    return resolveScopeKey(request, resolveScope);
  } catch (error) {
    if (isUnidentifiedUser(error)) return undefined;
    throw error;
  }
}

/** `req.ip` as Express (under `trust proxy`) and Fastify (under `trustProxy`) compute it. */
function frameworkIp(request: unknown): string | undefined {
  const ip = (request as { ip?: unknown }).ip;
  return typeof ip === 'string' && ip !== '' ? ip : undefined;
}

/**
 * Describes a response to the rate-limit engine: where its headers go (`setHeader`: the framework's
 * own, Fastify's reply for one) and when the Node.js response under it is over.
 */
export function describeRateLimitResponse(
  response: ServerResponse,
  setHeader: (name: string, value: string) => void = (name, value) => {
    response.setHeader(name, value);
  },
): RateLimitResponse {
  return { setHeader, whenDone: (done) => whenResponseDone(response, done) };
}
