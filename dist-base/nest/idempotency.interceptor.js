var __decorate = (this && this.__decorate) || function (decorators, target, key, desc) {
    var c = arguments.length, r = c < 3 ? target : desc === null ? desc = Object.getOwnPropertyDescriptor(target, key) : desc, d;
    if (typeof Reflect === "object" && typeof Reflect.decorate === "function") r = Reflect.decorate(decorators, target, key, desc);
    else for (var i = decorators.length - 1; i >= 0; i--) if (d = decorators[i]) r = (c < 3 ? d(r) : c > 3 ? d(target, key, r) : d(target, key)) || r;
    return c > 3 && r && Object.defineProperty(target, key, r), r;
};
var __metadata = (this && this.__metadata) || function (k, v) {
    if (typeof Reflect === "object" && typeof Reflect.metadata === "function") return Reflect.metadata(k, v);
};
var __param = (this && this.__param) || function (paramIndex, decorator) {
    return function (target, key) { decorator(target, key, paramIndex); }
};
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { Inject, Injectable, Logger, StreamableFile, } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { Observable, of } from 'rxjs';
import { PROBLEM_CONTENT_TYPE } from '../core/errors.js';
import { IdempotencyEngine, REPLAYED_HEADER } from '../core/idempotency/engine.js';
import { MESSAGE_METHOD } from '../core/idempotency/message.js';
import { resolveIdempotencyPolicy, UNSAFE_METHODS, } from '../core/idempotency/options.js';
import { idempotencyHandled } from '../http/handled.js';
import { ResponseCapture } from '../http/response-capture.js';
import { defaultScope } from '../http/request.js';
import { describeRequest, handlerSendsResponse, rawResponse } from './http-context.js';
import { MessageIdempotency } from './message-context.js';
import { IdempotentMetadata, SkipIdempotencyMetadata } from './metadata.js';
import { MODULE_OPTIONS_TOKEN } from './tollgate.module-definition.js';
/**
 * The same for messages, by their arguments array, which every interceptor of one delivery shares.
 * Module-wide: a global registration and `@Idempotent()` are two instances of the interceptor.
 */
const HANDLED_MESSAGES = new WeakSet();
/**
 * Translates between Nest and the idempotency engine: describes the request, runs the handler
 * when the engine says so, captures the response, and sends replays and rejections.
 * Register it globally (`APP_INTERCEPTOR`) or let `@Idempotent()` apply it per route.
 */
let IdempotencyInterceptor = class IdempotencyInterceptor {
    reflector;
    engine;
    options;
    adapterHost;
    /** One resolved policy per handler (null: not protected), built on its first request. */
    policies = new WeakMap();
    messages;
    constructor(reflector, engine, options, adapterHost) {
        this.reflector = reflector;
        this.engine = engine;
        this.options = options;
        this.adapterHost = adapterHost;
        ResponseCapture.prepare();
    }
    async intercept(context, next) {
        if (context.getType() === 'rpc')
            return this.interceptMessage(context, next);
        if (context.getType() !== 'http')
            return next.handle();
        const http = context.switchToHttp();
        const request = http.getRequest();
        // Global and per-route registration never stack.
        if (idempotencyHandled.has(request))
            return next.handle();
        const policy = this.policyFor(context, request.method);
        if (!policy)
            return next.handle();
        idempotencyHandled.mark(request);
        const response = http.getResponse();
        const described = describeRequest(context, request, this.options.scope ?? defaultScope);
        // Nest awaits a promised Observable: no extra operators around the decision.
        const decision = await this.engine.begin(described, policy);
        switch (decision.action) {
            case 'proceed':
                return this.execute(decision.execution, response, next);
            case 'replay':
                return this.answer(context, response, this.replay(response, decision.response));
            case 'reject':
                return this.answer(context, response, this.reject(response, decision.error));
            case 'bypass':
                return next.handle();
        }
    }
    /** Microservice handlers (`@MessagePattern`, `@EventPattern`): only where `@Idempotent()` asks. */
    interceptMessage(context, next) {
        const args = context.getArgs();
        if (HANDLED_MESSAGES.has(args))
            return next.handle();
        const policy = this.policyFor(context, MESSAGE_METHOD);
        if (!policy)
            return next.handle();
        HANDLED_MESSAGES.add(args);
        const options = this.reflector.getAllAndOverride(IdempotentMetadata, [
            context.getHandler(),
            context.getClass(),
        ]);
        this.messages ??= new MessageIdempotency(this.engine, (message) => new Logger('Tollgate').warn(message));
        return this.messages.intercept(context, next, policy, options ?? {});
    }
    execute(execution, response, next) {
        if (!execution.tracked)
            return next.handle();
        const raw = rawResponse(response);
        // Fastify's reply wraps the Node response and writes every body through writeHead and write;
        // Express's response is the Node response and answers in one end().
        const onFastify = raw !== response;
        const capture = ResponseCapture.attach(raw, execution, {
            maxBytes: execution.maxResponseBytes,
            writes: onFastify ? 'buffer' : 'stream',
            headersFromWriteHead: onFastify,
        });
        // Once the handler settles Nest always ends the response, except for a client already gone:
        // a response closed with nothing sent will never be captured, so its key is released rather
        // than left in progress until the lease runs out (a turn later, as Nest may still be ending it).
        const abandonIfClosedUnsent = () => {
            if (!capture.ended && raw.destroyed)
                void execution.abandon();
        };
        const afterHandler = () => {
            if (raw.destroyed)
                setImmediate(abandonIfClosedUnsent);
        };
        // One Observable written out rather than `tap` and `finalize`, and no 'close' listener: every
        // rxjs operator costs a subscriber and a subscription on every request.
        return new Observable((subscriber) => {
            if (!onFastify) {
                // On Express the first `write` of a streamed body marks it already.
                next.handle().subscribe(subscriber);
                return afterHandler;
            }
            // Fastify writes every body with `write`, so a stream is told apart by the handler's value.
            const inner = next.handle().subscribe({
                next: (value) => {
                    if (isStream(value))
                        capture.markStreamed();
                    subscriber.next(value);
                },
                error: (error) => subscriber.error(error),
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
    answer(context, response, body) {
        if (!handlerSendsResponse(context))
            return of(body);
        const adapter = this.adapterHost.httpAdapter;
        adapter.reply(response, body, rawResponse(response).statusCode);
        return of(undefined);
    }
    replay(response, stored) {
        const adapter = this.adapterHost.httpAdapter;
        adapter.status(response, stored.status);
        let contentType;
        for (const [name, value] of stored.headers) {
            adapter.setHeader(response, name, value);
            if (name.toLowerCase() === 'content-type')
                contentType = value;
        }
        adapter.setHeader(response, REPLAYED_HEADER, 'true');
        return replayBody(stored.body, contentType);
    }
    reject(response, error) {
        const adapter = this.adapterHost.httpAdapter;
        adapter.status(response, error.status);
        for (const [name, value] of Object.entries(error.headers))
            adapter.setHeader(response, name, value);
        adapter.setHeader(response, 'Content-Type', PROBLEM_CONTENT_TYPE);
        return bodyOf(Buffer.from(JSON.stringify(error.toProblem())));
    }
    policyFor(context, method) {
        const handler = context.getHandler();
        let byMethod = this.policies.get(handler);
        if (!byMethod)
            this.policies.set(handler, (byMethod = new Map()));
        let policy = byMethod.get(method);
        if (policy === undefined) {
            policy = this.resolvePolicy(context, method);
            byMethod.set(method, policy);
        }
        return policy;
    }
    resolvePolicy(context, method) {
        const targets = [context.getHandler(), context.getClass()];
        if (this.reflector.getAllAndOverride(SkipIdempotencyMetadata, targets))
            return null;
        const routeOptions = this.reflector.getAllAndOverride(IdempotentMetadata, targets);
        // Without @Idempotent(), only a global registration reaches here: protect unsafe methods, key optional.
        if (!routeOptions && !UNSAFE_METHODS.has(method.toUpperCase()))
            return null;
        try {
            return resolveIdempotencyPolicy(routeOptions, this.options.idempotency, {
                decorated: !!routeOptions,
            });
        }
        catch (error) {
            new Logger('Tollgate').error(`invalid idempotency options on ${context.getClass().name}.${context.getHandler().name}`);
            throw error;
        }
    }
};
IdempotencyInterceptor = __decorate([
    Injectable(),
    __param(2, Inject(MODULE_OPTIONS_TOKEN)),
    __metadata("design:paramtypes", [Reflector,
        IdempotencyEngine, Object, HttpAdapterHost])
], IdempotencyInterceptor);
export { IdempotencyInterceptor };
/**
 * Sends exact stored bytes through Nest's own streaming path, which every platform and Nest 11
 * and 12 support, instead of a value Nest would serialize again.
 */
/** A content type that already names UTF-8, so Express and Fastify send a string under it unchanged. */
const UTF8_CONTENT_TYPE = /;\s*charset=utf-8\s*(;|$)/i;
/**
 * A stored body as Nest should send it. UTF-8 text under a content type that names UTF-8 (what
 * JSON and text handlers produce) goes back as a string: the platform writes it in one piece and
 * adds nothing. Any other body goes through `StreamableFile`, which sends the bytes as they are.
 */
function replayBody(body, contentType) {
    if (body.byteLength === 0)
        return undefined;
    const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (contentType !== undefined && UTF8_CONTENT_TYPE.test(contentType) && isUtf8(bytes)) {
        return bytes.toString('utf8');
    }
    return bodyOf(bytes);
}
function bodyOf(body) {
    if (body.byteLength === 0)
        return undefined;
    return new StreamableFile(Buffer.from(body.buffer, body.byteOffset, body.byteLength), {
        length: body.byteLength,
    });
}
function isStream(value) {
    return (value instanceof StreamableFile ||
        value instanceof Readable ||
        (typeof ReadableStream !== 'undefined' && value instanceof ReadableStream) ||
        (typeof Response !== 'undefined' && value instanceof Response));
}
//# sourceMappingURL=idempotency.interceptor.js.map