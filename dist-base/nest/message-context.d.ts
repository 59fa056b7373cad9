import type { ArgumentsHost, CallHandler, ExecutionContext } from '@nestjs/common';
import { type Observable } from 'rxjs';
import type { IdempotencyEngine } from '../core/idempotency/engine.js';
import type { IdempotencyPolicy } from '../core/idempotency/options.js';
import { type ScopeParts } from '../http/request.js';
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
/** What a microservice handler is: an event handler has no reply to store or replay. */
export declare function isEventHandler(context: ExecutionContext): boolean;
/**
 * The handler as the message's route: its declared pattern(s) and its name. The name keeps two
 * handlers of one event (Nest runs every `@EventPattern` of a pattern) from sharing a key.
 */
export declare function messageRoute(context: ExecutionContext): string;
/**
 * Runs a microservice handler once per message. The first delivery runs it and its reply is
 * stored before it is sent, so a redelivery that follows the reply always finds it; a redelivery
 * of a `@MessagePattern` gets the same reply, and of an `@EventPattern` does not run. A handler
 * that fails releases the message, so its redelivery runs again.
 */
export declare class MessageIdempotency {
    private readonly engine;
    private readonly warn;
    constructor(engine: IdempotencyEngine, warn: (message: string) => void);
    intercept(context: ExecutionContext, next: CallHandler, policy: IdempotencyPolicy, options: MessageIdempotencyOptions): Observable<unknown>;
    private runOnce;
}
//# sourceMappingURL=message-context.d.ts.map