import { ReplaySubject, catchError, concatMap, from, of, throwError, toArray, } from 'rxjs';
import { decodeMessageReply, defaultMessageId, describeMessage, encodeMessageReply, EVENT_HANDLED, isDuplicateDelivery, messageIdOf, } from '../core/idempotency/message.js';
import { scopeOf } from '../http/request.js';
/** Nest's metadata keys of `@MessagePattern` and `@EventPattern`, stable since Nest 6. */
const PATTERN_METADATA = 'microservices:pattern';
const PATTERN_HANDLER_METADATA = 'microservices:handler_type';
/** `PatternHandler.EVENT`: fire-and-forget, no reply. */
const EVENT_HANDLER = 2;
/**
 * What a duplicate event's handler "returns": one value, not none. Nest joins the handlers of one
 * event with `forkJoin`, which ends them all as soon as one completes without a value.
 */
const HANDLED_ELSEWHERE = of(undefined);
/** What a microservice handler is: an event handler has no reply to store or replay. */
export function isEventHandler(context) {
    return Reflect.getMetadata(PATTERN_HANDLER_METADATA, context.getHandler()) === EVENT_HANDLER;
}
/**
 * The handler as the message's route: its declared pattern(s) and its name. The name keeps two
 * handlers of one event (Nest runs every `@EventPattern` of a pattern) from sharing a key.
 */
export function messageRoute(context) {
    const patterns = Reflect.getMetadata(PATTERN_METADATA, context.getHandler());
    return `${JSON.stringify(patterns ?? null)} ${context.getClass().name}.${context.getHandler().name}`;
}
/**
 * Runs a microservice handler once per message. The first delivery runs it and its reply is
 * stored before it is sent, so a redelivery that follows the reply always finds it; a redelivery
 * of a `@MessagePattern` gets the same reply, and of an `@EventPattern` does not run. A handler
 * that fails releases the message, so its redelivery runs again.
 */
export class MessageIdempotency {
    engine;
    warn;
    constructor(engine, warn) {
        this.engine = engine;
        this.warn = warn;
    }
    intercept(context, next, policy, options) {
        const host = context.switchToRpc();
        const data = host.getData();
        const event = isEventHandler(context);
        const route = messageRoute(context);
        const described = describeMessage({
            route,
            scope: options.messageScope
                ? scopeOf(data, (payload) => options.messageScope?.(payload, host))
                : 'anonymous',
            data,
            id: options.messageId
                ? messageIdOf(options.messageId(data, host))
                : (metadataKey(host, policy.headerName) ?? defaultMessageId(data)),
        }, policy.headerName);
        return from(this.engine.begin(described, policy)).pipe(concatMap((decision) => {
            switch (decision.action) {
                case 'proceed':
                    return this.runOnce(decision.execution, next, event);
                case 'replay':
                    return event ? HANDLED_ELSEWHERE : from(decodeMessageReply(decision.response));
                case 'reject':
                    // A duplicate event is not an error: it is simply not handled again.
                    if (event && isDuplicateDelivery(decision.error))
                        return HANDLED_ELSEWHERE;
                    // Nest drops an event handler's RpcException without a word: say why it did not run.
                    if (event)
                        this.warn(`event not handled (${route}): ${decision.error.message}`);
                    return from(rpcError(decision.error)).pipe(concatMap((error) => throwError(() => error)));
                case 'bypass':
                    return next.handle();
            }
        }));
    }
    runOnce(execution, next, event) {
        if (!execution.tracked)
            return next.handle();
        // Subscribed here rather than by Nest, so the outcome is recorded even when Nest lets go of
        // the handler early: it unsubscribes every handler of an event once one of them fails, while
        // the handler's work goes on. Released then, a redelivery would run it a second time.
        const settled = new ReplaySubject(1);
        next
            .handle()
            .pipe(catchError((error) => 
        // Rethrown as thrown, so the app's RPC exception filters see what they would without us.
        from(execution.abandon()).pipe(concatMap(() => throwError(() => error)))), toArray(), concatMap(async (values) => {
            const outcome = event
                ? EVENT_HANDLED
                : encodeMessageReply(values, execution.maxResponseBytes);
            if (outcome) {
                // Stored before the reply is sent: a redelivery that follows the reply finds it.
                await execution.finish(outcome);
            }
            else {
                // Not JSON: the transport cannot send it either, so the client sees a failure and retries.
                this.warn(`a message reply could not be stored as JSON; released ${execution.key}`);
                await execution.abandon();
            }
            return values;
        }))
            .subscribe(settled);
        return settled.pipe(concatMap((values) => from(values)));
    }
}
/** The key a client attached as packet metadata (Nest 12 `ClientProxy#setOnDispatchHook`). */
function metadataKey(host, headerName) {
    const context = host.getContext();
    const metadata = typeof context?.getMetadata === 'function' ? context.getMetadata() : undefined;
    if (typeof metadata !== 'object' || metadata === null)
        return undefined;
    const entries = metadata;
    return messageIdOf(entries[headerName.toLowerCase()] ?? entries[headerName]);
}
let rpcExceptionClass;
/**
 * The rejection as an `RpcException` carrying the problem details, which Nest's RPC exception
 * filter sends to the client as they are. Loaded on first use, from the app's own
 * `@nestjs/microservices` (an rpc context means it is installed), so HTTP-only apps never need it.
 */
async function rpcError(error) {
    rpcExceptionClass ??= import('@nestjs/microservices').then((microservices) => microservices.RpcException, () => undefined);
    const RpcException = await rpcExceptionClass;
    return RpcException ? new RpcException(error.toProblem()) : error;
}
//# sourceMappingURL=message-context.js.map