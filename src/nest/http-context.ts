import type { ServerResponse } from 'node:http';

import type { ExecutionContext } from '@nestjs/common';

import type { IdempotencyRequest } from '../core/idempotency/engine.js';
import {
  describeHttpRequest,
  scopeOf,
  type HttpRequestLike,
  type ScopeResolver,
} from '../http/request.js';

/** Express's and Fastify's requests under Nest: what the route template is read from. */
interface PlatformRequest extends HttpRequestLike {
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

export function describeRequest(
  context: ExecutionContext,
  request: unknown,
  resolveScope: ScopeResolver,
): IdempotencyRequest {
  const req = request as PlatformRequest;
  return describeHttpRequest(req, routeTemplate(context, req), scopeOf(request, resolveScope));
}
