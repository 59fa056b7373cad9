import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

import type { ExecutionContext, HttpServer } from '@nestjs/common';

import type { IdempotencyRequest } from '../core/idempotency/engine.js';
import { ResponseCapture } from '../http/response-capture.js';
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

/**
 * Sets a header exactly as given, on the platform's response. Express's response is the Node
 * response, so every header goes straight on: Express's `set` would add a charset to a
 * Content-Type that names none (`text/plain` becomes `text/plain; charset=utf-8`), and a replay
 * would then differ from the response it replays. Fastify's reply keeps headers of its own and
 * sets them as given, so there the platform's adapter sets them all.
 */
export function setPlatformHeader(
  adapter: Pick<HttpServer, 'setHeader'>,
  response: unknown,
  name: string,
  value: string,
): void {
  const candidate = response as { raw?: unknown; setHeader?: unknown };
  if (candidate.raw === undefined && typeof candidate.setHeader === 'function') {
    (response as ServerResponse).setHeader(name, value);
  } else {
    adapter.setHeader(response, name, value);
  }
}

export const isContentType = (name: string): boolean =>
  name.length === 12 && name.toLowerCase() === 'content-type';

/** Fastify's instance and reply, as far as the onSend hook below uses them. */
interface FastifyReplyLike {
  raw: ServerResponse;
  getHeaders(): OutgoingHttpHeaders;
}
interface FastifyLike {
  addHook(
    name: 'onSend',
    hook: (
      request: unknown,
      reply: FastifyReplyLike,
      payload: unknown,
      done: (error: null, payload: unknown) => void,
    ) => void,
  ): unknown;
}

/** Fastify instances already given the hook: one each, however many interceptors there are. */
const watchedSends = new WeakSet<object>();

/**
 * On Fastify, hands the capture each body before the app's onSend hooks rewrite it
 * (@fastify/compress encodes it there), so that what is stored is what the handler produced, not
 * one client's encoding of it. Added to the root instance, it runs before every route's own onSend
 * hooks, where @fastify/compress puts its own, whenever that plugin was registered. Fastify builds
 * each route's hooks when it boots, so this must come before `listen()` or `ready()`.
 */
export function watchPlatformSends(adapter: Pick<HttpServer, 'getType' | 'getInstance'>): void {
  if (adapter.getType() !== 'fastify') return;
  const instance = adapter.getInstance() as FastifyLike;
  if (watchedSends.has(instance)) return;
  watchedSends.add(instance);
  instance.addHook('onSend', (_request, reply, payload, done) => {
    ResponseCapture.beforeSend(reply.raw, payload, reply);
    done(null, payload);
  });
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
  return platformRoute(request) ?? `${context.getClass().name}.${context.getHandler().name}`;
}

/** Express's matched path or Fastify's route URL, when the platform has matched a route. */
export function platformRoute(request: PlatformRequest): string | undefined {
  const expressPath = request.route?.path;
  if (typeof expressPath === 'string') return (request.baseUrl ?? '') + expressPath;
  const fastifyUrl = request.routeOptions?.url;
  if (typeof fastifyUrl === 'string') return fastifyUrl;
  return undefined;
}

export function describeRequest(
  context: ExecutionContext,
  request: unknown,
  resolveScope: ScopeResolver,
): IdempotencyRequest {
  const req = request as PlatformRequest;
  return describeHttpRequest(req, routeTemplate(context, req), scopeOf(request, resolveScope));
}

/** Nest's metadata keys, stable since Nest 7, read here to avoid its internal entry points. */
const ROUTE_ARGS_METADATA = '__routeArguments__';
const RESPONSE_PASSTHROUGH_METADATA = '__responsePassthrough__';
/** `RouteParamtypes.RESPONSE` and `RouteParamtypes.NEXT`: the parameters that hand a handler its response. */
const RESPONSE_PARAM_TYPES: ReadonlySet<string> = new Set(['1', '2']);

/**
 * Whether the handler sends its response itself (`@Res()` or `@Next()` without passthrough), as
 * Nest decides it: Nest then sends nothing that an interceptor returns.
 */
export function handlerSendsResponse(context: ExecutionContext): boolean {
  const handler = context.getHandler();
  let sends = sendsResponse.get(handler);
  if (sends === undefined) {
    sends = readHandlerSendsResponse(context);
    sendsResponse.set(handler, sends);
  }
  return sends;
}

/** Per handler: route metadata is fixed once the app has started. */
const sendsResponse = new WeakMap<object, boolean>();

function readHandlerSendsResponse(context: ExecutionContext): boolean {
  const controller = context.getClass();
  const method = context.getHandler().name;
  const params = Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) as
    Record<string, unknown> | undefined;
  if (!params) return false;
  const takesResponse = Object.keys(params).some((key) =>
    RESPONSE_PARAM_TYPES.has(key.split(':')[0] ?? ''),
  );
  return takesResponse && !Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, controller, method);
}
