import { Readable } from 'node:stream';

import {
  Inject,
  Injectable,
  Logger,
  StreamableFile,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { Observable, of } from 'rxjs';

import { TollgateHttpError } from '../core/errors.js';
import { IdempotencyEngine, type Execution } from '../core/idempotency/engine.js';
import { MESSAGE_METHOD } from '../core/idempotency/message.js';
import {
  writeRejection,
  writeReplay,
  type ReplayBody,
  type ResponseWriter,
} from '../core/idempotency/respond.js';
import { idempotency, type RouteIdempotency } from '../core/idempotency/route.js';
import { isUnidentifiedUser } from '../core/scope.js';
import type { StoredResponse } from '../core/store.js';
import { idempotencyHandled } from '../http/handled.js';
import { attachLease } from '../http/leases.js';
import { settleClosedResponse } from '../http/disconnect.js';
import { ResponseCapture } from '../http/response-capture.js';
import { defaultScope } from '../http/request.js';
import {
  describeRequest,
  handlerSendsResponse,
  isContentType,
  rawResponse,
  routeTemplate,
  setPlatformHeader,
  watchPlatformSends,
} from './http-context.js';
import { MessageIdempotency } from './message-context.js';
import { problemException } from './tollgate-http.exception.js';
import { IdempotentMetadata } from './metadata.js';
import { idempotencyRouteOf } from './route-policies.js';
import { MODULE_OPTIONS_TOKEN, type TollgateModuleOptions } from './tollgate.module-definition.js';

/**
 * Messages already taken, by their arguments array, which every interceptor of one delivery
 * shares (HTTP requests are marked through `sharedHandledRequests`, http/handled.ts). Module-wide:
 * a global registration and `@Idempotent()` are two instances of the interceptor.
 */
const HANDLED_MESSAGES = new WeakSet<object>();

/**
 * Translates between Nest and the idempotency engine: describes the request, runs the handler
 * when the engine says so, captures the response, and sends replays and rejections.
 * Register it globally (`APP_INTERCEPTOR`) or let `@Idempotent()` apply it per route.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor, OnModuleInit {
  /** One route per handler and method (null: not protected), built on its first request. */
  private readonly routes = new WeakMap<object, Map<string, RouteIdempotency | null>>();
  private messages: MessageIdempotency | undefined;
  /** The response as the core writes to it: through the platform's adapter, read when used. */
  private readonly writer: ResponseWriter<unknown>;

  constructor(
    private readonly reflector: Reflector,
    private readonly engine: IdempotencyEngine,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: TollgateModuleOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    ResponseCapture.prepare();
    this.writer = {
      status: (response, status) => adapterHost.httpAdapter.status(response, status),
      setHeader: (response, name, value) =>
        setPlatformHeader(adapterHost.httpAdapter, response, name, value),
      sendsText: true,
    };
  }

  /**
   * The platform's send hook (`watchPlatformSends`): here rather than in the constructor, as a
   * testing module creates the interceptor before the application gives it its platform, and
   * still before the platform boots.
   */
  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter as HttpAdapterHost['httpAdapter'] | undefined;
    if (adapter) watchPlatformSends(adapter);
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() === 'rpc') return this.interceptMessage(context, next);
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest<{ method: string }>();
    // Global and per-route registration never stack.
    if (idempotencyHandled.has(request)) return next.handle();
    const route = this.routeFor(context, request.method);
    if (!route) return next.handle();
    idempotencyHandled.mark(request);

    const response = http.getResponse<unknown>();
    let described;
    try {
      described = describeRequest(context, request, this.options.scope ?? defaultScope);
    } catch (error) {
      // A user the scope cannot identify is refused, never lumped together with other users.
      if (!isUnidentifiedUser(error)) throw error;
      const template = routeTemplate(context, request as Parameters<typeof routeTemplate>[1]);
      route.refuse(template, request.method, error);
      return this.refused(context, response, error);
    }
    // Nest awaits a promised Observable: no extra operators around the decision.
    const decision = await route.begin(described);
    switch (decision.action) {
      case 'proceed': {
        attachLease(request, decision.execution.lease);
        // Nest has set the route's status (`@HttpCode`, or 201 for POST) before interceptors run.
        const raw = rawResponse(response);
        decision.execution.resultStatus = raw.statusCode;
        return this.execute(decision.execution, response, next, handlerSendsResponse(context));
      }
      case 'replay': {
        // A committed result goes through Nest's pipeline, unless the handler sends its own.
        const committed = decision.committed !== undefined && !handlerSendsResponse(context);
        const body = writeReplay(this.writer, response, decision.response, committed);
        if (body === 'value') return of(decision.committed?.value);
        return this.answer(context, response, replayBody(decision.response, body));
      }
      case 'reject':
        return this.refused(context, response, decision.error);
      case 'bypass':
        return next.handle();
    }
  }

  /** Microservice handlers (`@MessagePattern`, `@EventPattern`): only where `@Idempotent()` asks. */
  private interceptMessage(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const args = context.getArgs();
    if (HANDLED_MESSAGES.has(args)) return next.handle();
    const route = this.routeFor(context, MESSAGE_METHOD);
    if (!route) return next.handle();
    HANDLED_MESSAGES.add(args);
    const options = this.reflector.getAllAndOverride(IdempotentMetadata, [
      context.getHandler(),
      context.getClass(),
    ]);
    this.messages ??= new MessageIdempotency(this.engine, (message) =>
      new Logger('Tollgate').warn(message),
    );
    return this.messages.intercept(context, next, route.policy, options ?? {});
  }

  private execute(
    execution: Execution,
    response: unknown,
    next: CallHandler,
    sendsOwnResponse: boolean,
  ): Observable<unknown> {
    if (!execution.tracked) return next.handle();
    const raw = rawResponse(response);
    // Fastify's reply wraps the Node response and writes every body through writeHead and write;
    // Express's response is the Node response and answers in one end().
    const onFastify = raw !== response;
    const capture = ResponseCapture.attach(raw, execution, {
      maxBytes: execution.maxResponseBytes,
      writes: onFastify ? 'buffer' : 'stream',
      // Fastify passes every header there; on Express a `@Res()` handler's `writeHead(status,
      // headers)` with no header set before is sent without Node keeping a copy of them.
      headersFromWriteHead: true,
      watchDestroy: sendsOwnResponse,
    });
    // A handler that sends its own response (`@Res()`) may do so after it returned, or never: it
    // may hand the response to a stream that fails before the first byte and destroys it. As on
    // Express, a response the app destroys before any byte releases the key; one cut off mid-body
    // is recorded as streamed; one whose client left keeps its key until the handler answers.
    if (sendsOwnResponse) {
      raw.on('close', () => {
        settleClosedResponse(execution, raw, capture, capture.destroyedByApp);
      });
    }
    // Once the handler settles Nest always ends the response, except one already closed: no
    // answer will come for that one, so the rule is told it is given up (`true`). Checked a turn
    // later, as Nest may still be ending it. A client that leaves while the handler runs is only
    // looked at once the handler settles, so its key is kept meanwhile.
    const afterHandler = (): void => {
      if (raw.destroyed) setImmediate(settleClosedResponse, execution, raw, capture, true);
    };
    // One Observable written out rather than `tap` and `finalize`, and no 'close' listener: every
    // rxjs operator costs a subscriber and a subscription on every request.
    return new Observable<unknown>((subscriber) => {
      // A Tollgate error the handler throws (`lease.throwIfLost()`) answers as every rejection
      // does: problem+json with its headers, through Nest's exception filters.
      const error = (thrown: unknown): void =>
        subscriber.error(
          thrown instanceof TollgateHttpError
            ? problemException(this.adapterHost.httpAdapter, response, thrown)
            : thrown,
        );
      // On Express the first `write` of a streamed body marks it already; Fastify writes every
      // body with `write`, so there a stream is told apart by the handler's value.
      const inner = next.handle().subscribe({
        next: (value) => {
          if (onFastify && isStream(value)) capture.markStreamed(raw);
          subscriber.next(value);
        },
        error,
        complete: () => subscriber.complete(),
      });
      return () => {
        inner.unsubscribe();
        afterHandler();
      };
    });
  }

  /**
   * Nest sends what the interceptor returns, except for a handler that sends its own response
   * (`@Res()` without passthrough): that handler does not run here, so the answer is sent here.
   */
  private answer(
    context: ExecutionContext,
    response: unknown,
    body: StreamableFile | string | undefined,
  ): Observable<unknown> {
    if (!handlerSendsResponse(context)) return of(body);
    const adapter = this.adapterHost.httpAdapter;
    adapter.reply(response, body, rawResponse(response).statusCode);
    return of(undefined);
  }

  /**
   * A rejection decided before the handler runs, sent as the interceptor's value rather than
   * thrown: its exact bytes go out through the platform like any body, and the handler never runs.
   */
  private refused(
    context: ExecutionContext,
    response: unknown,
    error: TollgateHttpError,
  ): Observable<unknown> {
    const body = writeRejection(this.writer, response, error);
    return this.answer(context, response, bodyOf(body));
  }

  private routeFor(context: ExecutionContext, method: string): RouteIdempotency | null {
    const handler = context.getHandler();
    let byMethod = this.routes.get(handler);
    if (!byMethod) this.routes.set(handler, (byMethod = new Map()));
    let route = byMethod.get(method);
    if (route === undefined) {
      route = this.resolveRoute(context, method);
      byMethod.set(method, route);
    }
    return route;
  }

  private resolveRoute(context: ExecutionContext, method: string): RouteIdempotency | null {
    const controller = context.getClass();
    const handler = context.getHandler();
    try {
      const found = idempotencyRouteOf(this.reflector, controller, handler, this.options);
      if (!found) return null;
      const route = idempotency(this.engine, found);
      return route.protects(method) ? route : null;
    } catch (error) {
      new Logger('Tollgate').error(
        `invalid idempotency options on ${controller.name}.${handler.name}`,
      );
      throw error;
    }
  }
}

/**
 * A stored body in the form the core chose (`writeReplay`): UTF-8 text as a string, which the
 * platform writes in one piece and adds nothing to; any other body through `StreamableFile`.
 */
function replayBody(stored: StoredResponse, form: ReplayBody): StreamableFile | string | undefined {
  const body = stored.body;
  if (form === 'text') {
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  }
  const typed = stored.headers.some(([name]) => isContentType(name));
  return bodyOf(body, typed);
}

/**
 * Sends exact stored bytes through Nest's own streaming path, which every platform and Nest 11
 * and 12 support, instead of a value Nest would serialize again. `typed`: the response carries a
 * Content-Type of its own already; without one, the bytes go out without one, as they first did.
 */
function bodyOf(body: Uint8Array, typed = true): StreamableFile | undefined {
  if (body.byteLength === 0) return undefined;
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const options = { length: body.byteLength };
  return typed ? new StreamableFile(bytes, options) : new UntypedFile(bytes, options);
}

/**
 * Bytes first sent without a Content-Type (a `@Res()` handler's own `writeHead`): a
 * `StreamableFile` reports `application/octet-stream` for them, which both platforms would set
 * on a response that has none. They set no type when it reports none.
 */
class UntypedFile extends StreamableFile {
  override getHeaders(): ReturnType<StreamableFile['getHeaders']> {
    // Typed as a string by Nest, yet read by both platforms as "none" when undefined.
    return { ...super.getHeaders(), type: undefined as unknown as string };
  }
}

function isStream(value: unknown): boolean {
  return (
    value instanceof StreamableFile ||
    value instanceof Readable ||
    (typeof ReadableStream !== 'undefined' && value instanceof ReadableStream) ||
    (typeof Response !== 'undefined' && value instanceof Response)
  );
}
