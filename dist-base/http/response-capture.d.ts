import { ServerResponse } from 'node:http';
import type { CapturedResponse } from '../core/idempotency/engine.js';
export interface ResponseCaptureOptions {
    /** Bodies larger than this are passed through untouched and reported as `too-large`. */
    maxBytes: number;
    /**
     * What a `write()` before `end()` means: `buffer` (Fastify writes every body that way) keeps the
     * bytes; `stream` (Express answers in one `end()`, so writes are the app streaming) marks the
     * response as streamed. Default `stream`.
     */
    writes?: 'buffer' | 'stream';
    /** Read headers passed to `writeHead()` too (Fastify passes all of them there). Default false. */
    headersFromWriteHead?: boolean;
    /** Note whether the app destroys the response itself (`destroyedByApp`). Default false. */
    watchDestroy?: boolean;
}
/** Receives the response once, when it is ended, whether or not the client is still there. */
export interface CaptureSink {
    finish(response: CapturedResponse): unknown;
}
/**
 * Tees what a handler writes to a Node.js `ServerResponse` (which both Express and Fastify write
 * to underneath) without changing it. It records at `end()`, not at 'finish', so a response is
 * stored even when the client has already disconnected and 'finish' never comes.
 *
 * This runs on every protected request, so it adds nothing to the response object itself: Express
 * re-prototypes every response, and each property added to one then copies its whole map (about
 * 2 KB, several per request with `write`, `end` and a marker). Instead `ServerResponse.prototype`'s
 * methods are wrapped once, and each looks its response up in a WeakMap; responses without a
 * capture pass straight through. Wrapping the prototype also sees a body that another middleware
 * (compression, say) writes through its own replacement of `res.end`, which calls the prototype's.
 */
export declare class ResponseCapture {
    private readonly sink;
    private readonly maxBytes;
    /** Whether `end()` was called. */
    ended: boolean;
    /** Whether the app called `destroy()` on the response (only with `watchDestroy`). */
    destroyedByApp: boolean;
    private streamed;
    private tooLarge;
    private size;
    private first;
    private rest;
    private headersFromWriteHead;
    private readonly buffersWrites;
    private readonly readsWriteHead;
    private readonly watchesDestroy;
    private constructor();
    /**
     * Wraps `ServerResponse.prototype` now, before any request: a layer that replaces `res.end`
     * per request (compression) keeps whatever `end` it found, so the wrapper must already be there
     * on the first request. The adapters call this when they are created.
     */
    static prepare(): void;
    /** Starts capturing `res`; `sink.finish` gets the response when it is ended. */
    static attach(res: ServerResponse, sink: CaptureSink, options: ResponseCaptureOptions): ResponseCapture;
    /** The body is a stream: pass it through and report it as `streamed` rather than buffering it. */
    markStreamed(): void;
    private onWrite;
    private onEnd;
    private onWriteHead;
    private onDestroy;
    private take;
    private body;
    /** @internal Runs the capture's side of a response method, before the method itself. */
    static observe(res: ServerResponse, method: ObservedMethod, args: ArrayLike<unknown>): void;
}
type ObservedMethod = 'write' | 'end' | 'writeHead' | 'destroy';
export {};
//# sourceMappingURL=response-capture.d.ts.map