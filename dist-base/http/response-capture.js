import { ServerResponse } from 'node:http';
/**
 * The capture of each response being captured; every other response has none.
 *
 * A capture must never refer to its response, and its entry goes as soon as the response ends.
 * V8's young-generation GC (the scavenger) keeps every value of a WeakMap alive, whether or not
 * its key is: a value that pointed back at its response would keep the response, its request,
 * and everything they hold alive through every scavenge, until a full GC. Measured on the Nest
 * bench: 14 µs of CPU per request, mostly copying those objects around the young generation.
 */
const captures = new WeakMap();
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
export class ResponseCapture {
    sink;
    maxBytes;
    /** Whether `end()` was called. */
    ended = false;
    /** Whether the app called `destroy()` on the response (only with `watchDestroy`). */
    destroyedByApp = false;
    streamed = false;
    tooLarge = false;
    size = 0;
    first;
    rest;
    headersFromWriteHead;
    buffersWrites;
    readsWriteHead;
    watchesDestroy;
    // No field refers to the response: see `captures`.
    constructor(sink, maxBytes, options) {
        this.sink = sink;
        this.maxBytes = maxBytes;
        this.buffersWrites = options.writes === 'buffer';
        this.readsWriteHead = options.headersFromWriteHead === true;
        this.watchesDestroy = options.watchDestroy === true;
    }
    /**
     * Wraps `ServerResponse.prototype` now, before any request: a layer that replaces `res.end`
     * per request (compression) keeps whatever `end` it found, so the wrapper must already be there
     * on the first request. The adapters call this when they are created.
     */
    static prepare() {
        wrapPrototypeOnce();
    }
    /** Starts capturing `res`; `sink.finish` gets the response when it is ended. */
    static attach(res, sink, options) {
        if (captures.has(res))
            throw new Error('tollgate: this response is already captured');
        const capture = new ResponseCapture(sink, options.maxBytes, options);
        captures.set(res, capture);
        if (res instanceof ServerResponse)
            wrapPrototypeOnce();
        else
            wrapOwnMethods(res);
        return capture;
    }
    /** The body is a stream: pass it through and report it as `streamed` rather than buffering it. */
    markStreamed() {
        this.streamed = true;
        this.first = undefined;
        this.rest = undefined;
    }
    onWrite(chunk, encoding) {
        if (this.buffersWrites)
            this.take(chunk, encoding);
        else if (!this.streamed)
            this.markStreamed();
    }
    onEnd(res, chunk, encoding) {
        if (this.ended)
            return;
        this.ended = true;
        // Nothing more to see: the entry goes now rather than at the next full GC (see `captures`).
        captures.delete(res);
        this.take(chunk, encoding);
        const status = res.statusCode;
        const unstorable = this.streamed ? 'streamed' : this.tooLarge ? 'too-large' : undefined;
        this.sink.finish(unstorable
            ? { status, unstorable }
            : {
                status,
                headers: this.headersFromWriteHead
                    ? { ...res.getHeaders(), ...this.headersFromWriteHead }
                    : res.getHeaders(),
                body: this.body(),
            });
    }
    onWriteHead(args) {
        if (!this.readsWriteHead)
            return;
        const headers = typeof args[1] === 'string' ? args[2] : args[1];
        if (headers && typeof headers === 'object')
            this.headersFromWriteHead = toHeaderRecord(headers);
    }
    onDestroy() {
        if (this.watchesDestroy)
            this.destroyedByApp = true;
    }
    take(chunk, encoding) {
        if (chunk === undefined ||
            chunk === null ||
            typeof chunk === 'function' ||
            this.streamed ||
            this.tooLarge)
            return;
        const bytes = typeof chunk === 'string'
            ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
            : Buffer.isBuffer(chunk)
                ? chunk
                : chunk instanceof Uint8Array
                    ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
                    : undefined;
        if (!bytes)
            return;
        this.size += bytes.byteLength;
        if (this.size > this.maxBytes) {
            this.tooLarge = true;
            this.first = undefined;
            this.rest = undefined;
            return;
        }
        if (this.first === undefined)
            this.first = bytes;
        else
            (this.rest ??= []).push(bytes);
    }
    body() {
        if (this.first === undefined)
            return EMPTY;
        if (this.rest === undefined)
            return this.first;
        return Buffer.concat([this.first, ...this.rest], this.size);
    }
    /** @internal Runs the capture's side of a response method, before the method itself. */
    static observe(res, method, args) {
        const capture = captures.get(res);
        if (capture === undefined)
            return;
        switch (method) {
            case 'write':
                capture.onWrite(args[0], args[1]);
                return;
            case 'end':
                capture.onEnd(res, args[0], args[1]);
                return;
            case 'writeHead':
                capture.onWriteHead(args);
                return;
            case 'destroy':
                capture.onDestroy();
        }
    }
}
const OBSERVED = ['write', 'end', 'writeHead', 'destroy'];
const EMPTY = Buffer.alloc(0);
/** Whether `ServerResponse.prototype` is wrapped (once per process and copy of Tollgate). */
let wrapped = false;
function wrapPrototypeOnce() {
    if (wrapped)
        return;
    wrapped = true;
    const proto = ServerResponse.prototype;
    for (const name of OBSERVED) {
        const original = proto[name];
        proto[name] = function observed() {
            // `arguments`, not a rest parameter: no array per call on every response of the process.
            // eslint-disable-next-line prefer-rest-params
            const args = arguments;
            ResponseCapture.observe(this, name, args);
            return original.apply(this, args);
        };
    }
}
/** A response that is not a Node.js ServerResponse (a test double, another realm): its own methods. */
function wrapOwnMethods(res) {
    const target = res;
    for (const name of OBSERVED) {
        const original = target[name];
        if (typeof original !== 'function')
            continue;
        target[name] = function observed(...args) {
            ResponseCapture.observe(this, name, args);
            return original.apply(this, args);
        };
    }
}
function toHeaderRecord(headers) {
    if (Array.isArray(headers)) {
        // writeHead also takes a flat [name, value, name, value] list.
        const record = {};
        for (let i = 0; i + 1 < headers.length; i += 2)
            record[String(headers[i]).toLowerCase()] = headers[i + 1];
        return record;
    }
    const record = {};
    for (const [name, value] of Object.entries(headers))
        record[name.toLowerCase()] = value;
    return record;
}
//# sourceMappingURL=response-capture.js.map