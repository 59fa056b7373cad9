import { type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { Observable } from 'rxjs';
import { IdempotencyEngine } from '../core/idempotency/engine.js';
import { type TollgateModuleOptions } from './tollgate.module-definition.js';
/**
 * Translates between Nest and the idempotency engine: describes the request, runs the handler
 * when the engine says so, captures the response, and sends replays and rejections.
 * Register it globally (`APP_INTERCEPTOR`) or let `@Idempotent()` apply it per route.
 */
export declare class IdempotencyInterceptor implements NestInterceptor {
    private readonly reflector;
    private readonly engine;
    private readonly options;
    private readonly adapterHost;
    /** One resolved policy per handler (null: not protected), built on its first request. */
    private readonly policies;
    private messages;
    constructor(reflector: Reflector, engine: IdempotencyEngine, options: TollgateModuleOptions, adapterHost: HttpAdapterHost);
    intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>>;
    /** Microservice handlers (`@MessagePattern`, `@EventPattern`): only where `@Idempotent()` asks. */
    private interceptMessage;
    private execute;
    /**
     * Nest sends what the interceptor returns, except for a handler that sends its own response
     * (`@Res()` without passthrough): that handler does not run here, so the answer is sent here.
     */
    private answer;
    private replay;
    private reject;
    private policyFor;
    private resolvePolicy;
}
//# sourceMappingURL=idempotency.interceptor.d.ts.map