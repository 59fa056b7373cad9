import type { ArgumentsHost, CallHandler, ExecutionContext } from '@nestjs/common';
import { concatMap, from, lastValueFrom, of, throwError, toArray, type Observable } from 'rxjs';

import type { TollgateHttpError } from '../core/errors.js';
import type { Execution, IdempotencyEngine } from '../core/idempotency/engine.js';
import { defaultMessageId, messageIdOf } from '../core/idempotency/message.js';
import { beginMessage, runMessage, type MessageKind } from '../core/idempotency/message-run.js';
import type { IdempotencyPolicy } from '../core/idempotency/options.js';
import { attachLease } from '../http/leases.js';
import { scopeOf, type ScopeParts } from '../http/request.js';

/** The message's payload and transport context (`host.getContext<TcpContext>()`), as Nest hands them over. */
export type RpcArgumentsHost = ReturnType<ArgumentsHost['switchToRpc']>;

/** Options of `@Idempotent()` that apply to microservice handlers (`@EventPattern`, `@MessagePattern`). */
export interface MessageIdempotencyOptions {
  /**
   * The message's id. Default: the packet metadata entry named like the key header
   * (`idempotency-key`, Nest 12), else `data.id` or `data.messageId`; without one, a fingerprint of
   * the payload identifies the message.
   */
  messageId?: (data: unknown, host: RpcArgumentsHost) => string | number | undefined;
  /** Who sent the message: principal and tenant, as parts of its key. Default: none (`anonymous`). */
  messageScope?: (data: unknown, host: RpcArgumentsHost) => ScopeParts;
}

/** Nest's metadata keys of `@MessagePattern` and `@EventPattern`, stable since Nest 6. */
const PATTERN_METADATA = 'microservices:pattern';
const PATTERN_HANDLER_METADATA = 'microservices:handler_type';
/** `PatternHandler.EVENT`: fire-and-forget, no reply. */
const EVENT_HANDLER = 2;

/**
 * What a duplicate event's handler "returns": one value, not none. Nest joins the handlers of one
 * event with `forkJoin`, which ends them all as soon as one completes without a value.
 */
const HANDLED_ELSEWHERE: Observable<unknown> = of(undefined);

/** What a microservice handler is: an event handler has no reply to store or replay. */
export function isEventHandler(context: ExecutionContext): boolean {
  return Reflect.getMetadata(PATTERN_HANDLER_METADATA, context.getHandler()) === EVENT_HANDLER;
}

/**
 * The handler as the message's route: its declared pattern(s) and its name. The name keeps two
 * handlers of one event (Nest runs every `@EventPattern` of a pattern) from sharing a key.
 */
export function messageRoute(context: ExecutionContext): string {
  const patterns: unknown = Reflect.getMetadata(PATTERN_METADATA, context.getHandler());
  return `${JSON.stringify(patterns ?? null)} ${context.getClass().name}.${context.getHandler().name}`;
}

/**
 * Runs a microservice handler once per message, by the core's message rules (`beginMessage`,
 * `runMessage`): reads the message from Nest's context, and turns each step into the Observable
 * Nest expects of the handler.
 */
export class MessageIdempotency {
  constructor(
    private readonly engine: IdempotencyEngine,
    private readonly warn: (message: string) => void,
  ) {}

  intercept(
    context: ExecutionContext,
    next: CallHandler,
    policy: IdempotencyPolicy,
    options: MessageIdempotencyOptions,
  ): Observable<unknown> {
    const host = context.switchToRpc();
    const data: unknown = host.getData();
    const kind: MessageKind = isEventHandler(context) ? 'event' : 'reply';
    const route = messageRoute(context);
    const message = {
      route,
      scope: options.messageScope
        ? scopeOf(data, (payload) => options.messageScope?.(payload, host))
        : undefined,
      data,
      id: options.messageId
        ? messageIdOf(options.messageId(data, host))
        : (metadataKey(host, policy.headerName) ?? defaultMessageId(data)),
    };
    return from(beginMessage(this.engine, policy, message, kind)).pipe(
      concatMap((step) => {
        switch (step.action) {
          case 'proceed':
            attachLease(leaseHolder(context), step.execution.lease);
            // Nothing to record (the `lock` strategy): the handler as it is.
            if (!step.execution.tracked) return next.handle();
            return this.runOnce(step.execution, next, kind);
          case 'replay':
            return from(step.values);
          case 'handled':
            return HANDLED_ELSEWHERE;
          case 'reject':
            // Nest drops an event handler's RpcException without a word: say why it did not run.
            if (kind === 'event') this.warn(`event not handled (${route}): ${step.error.message}`);
            return from(rpcError(step.error)).pipe(concatMap((error) => throwError(() => error)));
          case 'bypass':
            return next.handle();
        }
      }),
    );
  }

  private runOnce(execution: Execution, next: CallHandler, kind: MessageKind): Observable<unknown> {
    // Subscribed here rather than by Nest, so the outcome is recorded even when Nest lets go of
    // the handler early: it unsubscribes every handler of an event once one of them fails, while
    // the handler's work goes on. Released then, a redelivery would run it a second time. A
    // failure is rethrown as thrown, so the app's RPC exception filters see what they would
    // without us.
    const settled = runMessage(
      execution,
      kind,
      () => lastValueFrom(next.handle().pipe(toArray())),
      this.warn,
    );
    return from(settled).pipe(concatMap((values) => from(values)));
  }
}

/**
 * What a message's lease is kept by: its transport context (`@Ctx()`), one object per delivery,
 * else its payload. Nest hands parameter decorators a copy of the arguments array, so the array
 * itself cannot be the key; its elements are the same objects.
 */
export function leaseHolder(context: ArgumentsHost): object {
  const [data, transport] = context.getArgs<[unknown, unknown]>();
  if (typeof transport === 'object' && transport !== null) return transport;
  if (typeof data === 'object' && data !== null) return data;
  return context.getArgs();
}

/** The key a client attached as packet metadata (Nest 12 `ClientProxy#setOnDispatchHook`). */
function metadataKey(host: RpcArgumentsHost, headerName: string): string | undefined {
  const context = host.getContext<{ getMetadata?: () => unknown } | undefined>();
  const metadata = typeof context?.getMetadata === 'function' ? context.getMetadata() : undefined;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const entries = metadata as Record<string, unknown>;
  return messageIdOf(entries[headerName.toLowerCase()] ?? entries[headerName]);
}

type RpcExceptionClass = new (error: object) => Error;
let rpcExceptionClass: Promise<RpcExceptionClass | undefined> | undefined;

/**
 * The rejection as an `RpcException` carrying the problem details, which Nest's RPC exception
 * filter sends to the client as they are. Loaded on first use, from the app's own
 * `@nestjs/microservices` (an rpc context means it is installed), so HTTP-only apps never need it.
 */
async function rpcError(error: TollgateHttpError): Promise<Error> {
  rpcExceptionClass ??= import('@nestjs/microservices').then(
    (microservices) => microservices.RpcException as RpcExceptionClass,
    () => undefined,
  );
  const RpcException = await rpcExceptionClass;
  return RpcException ? new RpcException(error.toProblem()) : error;
}
