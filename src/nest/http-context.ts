import type { ServerResponse } from 'node:http';

import type { ExecutionContext } from '@nestjs/common';

import type { IdempotencyRequest } from '../core/idempotency/engine.js';
import type { ScopeResolver } from './tollgate.module-definition.js';

/**
 * The parts of an Express request or a Fastify request that Tollgate reads. Both platforms are
 * described structurally, so the adapter needs neither as a dependency.
 */
interface PlatformRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  query?: unknown;
  body?: unknown;
  rawBody?: Buffer;
  user?: unknown;
  /** Express */
  route?: { path?: unknown };
  baseUrl?: string;
  /** Fastify */
  routeOptions?: { url?: string };
}

/** The Node.js response under the platform's: Express's response is one, Fastify's reply wraps one. */
export function rawResponse(response: unknown): ServerResponse {
  const reply = response as { raw?: ServerResponse };
  return reply.raw ?? (response as ServerResponse);
}

/**
 * The route template, so `/orders/1` and `/orders/2` share a route but never a key: Express's
 * matched path, Fastify's route URL, or else the controller and handler names.
 */
export function routeTemplate(context: ExecutionContext, request: PlatformRequest): string {
  const expressPath = request.route?.path;
  if (typeof expressPath === 'string') return (request.baseUrl ?? '') + expressPath;
  const fastifyUrl = request.routeOptions?.url;
  if (typeof fastifyUrl === 'string') return fastifyUrl;
  return `${context.getClass().name}.${context.getHandler().name}`;
}

/** `request.user.id` and `request.user.tenantId`, as most Passport strategies and guards set them. */
export const defaultScope: ScopeResolver = (request) => {
  const user = (request as PlatformRequest).user as Record<string, unknown> | undefined;
  if (!user || typeof user !== 'object') return undefined;
  const id = user.id ?? user.sub;
  const tenant = user.tenantId;
  return [
    typeof id === 'string' || typeof id === 'number' ? id : undefined,
    typeof tenant === 'string' || typeof tenant === 'number' ? tenant : undefined,
  ];
};

export function scopeOf(request: unknown, resolve: ScopeResolver): string {
  const scope = resolve(request);
  if (scope === undefined) return 'anonymous';
  return JSON.stringify(typeof scope === 'string' ? [scope] : scope.map((part) => part ?? null));
}

export function describeRequest(
  context: ExecutionContext,
  request: unknown,
  resolveScope: ScopeResolver,
): IdempotencyRequest {
  const req = request as PlatformRequest;
  return {
    method: req.method,
    route: routeTemplate(context, req),
    scope: scopeOf(request, resolveScope),
    header: (name) => req.headers[name],
    query: (name) => {
      const value = (req.query as Record<string, unknown> | undefined)?.[name];
      return typeof value === 'string' ? value : Array.isArray(value) ? value.join(',') : undefined;
    },
    body: bodyOf(req),
  };
}

/** A parsed body is hashed in canonical form; an unparsed one as its raw bytes when the app keeps them. */
function bodyOf(request: PlatformRequest): unknown {
  const body = request.body;
  if (
    body !== undefined &&
    body !== null &&
    !(typeof body === 'object' && Object.keys(body).length === 0 && request.rawBody)
  ) {
    return body;
  }
  return request.rawBody ?? body;
}
