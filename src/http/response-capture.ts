import { ServerResponse, type OutgoingHttpHeaders } from 'node:http';

import type { CapturedResponse } from '../core/idempotency/engine.js';
import { refusedChunk, toHeaderRecord } from './response-args.js';

export interface ResponseCaptureOptions {
  /** Bodies larger than this are passed through untouched and reported as `too-large`. */
  maxBytes: number;
  /**
   * What a `write()` before `end()` means: `buffer` (Fastify writes every body that way) keeps the
   * bytes; `stream` (Express answers in one `end()`, so writes are the app streaming) marks the
   * response as streamed. Default `stream`.
   */
  writes?: 'buffer' | 'stream';
  /**
   * Read headers passed to `writeHead()` too: Fastify passes all of them there, and Node keeps no
   * copy of them (for `getHeaders()`) when no header was set before. Default false.
   */
  headersFromWriteHead?: boolean;
  /** Note whether the app destroys the response itself (`destroyedByApp`). Default false. */
  watchDestroy?: boolean;
}

/** Receives the response once, when it is ended, whether or not the client is still there. */
export interface CaptureSink {
  finish(response: CapturedResponse): unknown;
}

type Method = (this: ServerResponse, ...args: unknown[]) => unknown;

/**
 * The capture of each response being captured; every other response has none.
 *
 * A capture must never refer to its response, and its entry goes as soon as the response ends.
 * V8's young-generation GC (the scavenger) keeps every value of a WeakMap alive, whether or not
 * its key is: a value that pointed back at its response would keep the response, its request,
 * and everything they hold alive through every scavenge, until a full GC, copying them around the
 * young generation on every request.
 */
const captures = new WeakMap<ServerResponse, ResponseCapture>();

/**
 * Tees what a handler writes to a Node.js `ServerResponse` (which both Express and Fastify write
 * to underneath) without changing it. It records at `end()`, not at 'finish', so a response is
 * stored even when the client has already disconnected and 'finish' never comes.
 *
 * This runs on every protected request, so it adds nothing to the response object itself: Express
 * re-prototypes every response, and each property added to one then copies its whole map (about
 * 2 KB, several per request with `write`, `end` and a marker). Instead `ServerResponse.prototype`'s
 * methods are wrapped once, and each looks its response up in a WeakMap; responses without a
 * capture pass straight through. Wrapping the prototype also sees a body that a layer replacing
 * `res.end` after the capture was attached writes through the prototype's. A response whose `write`
 * or `end` a layer replaced before (compression, which writes gzip bytes through the prototype's)
 * is captured on those methods instead, so what is stored is what the handler wrote.
 */
export class ResponseCapture {
  /** Whether `end()` was called. */
  ended = false;
  /** Whether the app called `destroy()` on the response (only with `watchDestroy`). */
  destroyedByApp = false;
  private streamed = false;
  private tooLarge = false;
  private size = 0;
  private first: Buffer | undefined;
  private rest: Buffer[] | undefined;
  private headersFromWriteHead: OutgoingHttpHeaders | undefined;
  private readonly buffersWrites: boolean;
  private readonly readsWriteHead: boolean;
  private readonly watchesDestroy: boolean;
  /**
   * Whether this capture sees its response through the response's own methods rather than the
   * prototype's: a response that is not a Node.js ServerResponse, or one whose `write` or `end` a
   * layer replaced before it was attached (see `attach`).
   */
  private ownMethods = false;
  /** The body and headers before any layer encoded them, when the framework says (`beforeSend`). */
  private unencoded: (Sent & { body: string | Buffer }) | undefined;

  // No field refers to the response: see `captures`.
  private constructor(
    private readonly sink: CaptureSink,
    private readonly maxBytes: number,
    options: ResponseCaptureOptions,
  ) {
    this.buffersWrites = options.writes === 'buffer';
    this.readsWriteHead = options.headersFromWriteHead === true;
    this.watchesDestroy = options.watchDestroy === true;
  }

  /**
   * Wraps `ServerResponse.prototype` now, before any request: a layer that replaces `res.end`
   * per request (compression) keeps whatever `end` it found, so the wrapper must already be there
   * on the first request. The adapters call this when they are created.
   */
  static prepare(): void {
    wrapPrototypeOnce();
  }

  /** Starts capturing `res`; `sink.finish` gets the response when it is ended. */
  static attach(
    res: ServerResponse,
    sink: CaptureSink,
    options: ResponseCaptureOptions,
  ): ResponseCapture {
    if (captures.has(res)) throw new Error('tollgate: this response is already captured');
    const capture = new ResponseCapture(sink, options.maxBytes, options);
    captures.set(res, capture);
    if (res instanceof ServerResponse && !replacesBody(res)) {
      wrapPrototypeOnce();
    } else {
      // A layer mounted before (compression) replaced `write` and `end` on this response, and
      // writes what it makes of the body (gzip bytes, piece by piece) through the prototype's.
      // What is stored is what the handler wrote, so the capture sits on the layer's methods,
      // and a replay, ended through them too, is encoded afresh for the client that asks.
      capture.ownMethods = true;
      wrapOwnMethods(res);
    }
    return capture;
  }

  /**
   * `res`'s body and headers as the framework hands them to the layers that may still rewrite them
   * (Fastify's onSend hooks: @fastify/compress). If a layer then encodes the body, they are what is
   * stored, as under Express's `compression`: a replay goes through the same layers, encoded afresh
   * for a client that asks, as it is for one that cannot decode it. A stream body is not stored;
   * if the framework sends anew (an error handler), the latest call counts.
   */
  static beforeSend(
    res: ServerResponse,
    body: unknown,
    headers: { getHeaders(): OutgoingHttpHeaders },
  ): void {
    const capture = captures.get(res);
    if (capture === undefined) return;
    capture.unencoded =
      typeof body === 'string' || Buffer.isBuffer(body)
        ? { status: res.statusCode, body, headers: headers.getHeaders() }
        : undefined;
  }

  /**
   * The body is a stream: pass it through and report it as `streamed` rather than buffering it,
   * when it ends or when it is cut off (the client leaves mid-body, or the app destroys it).
   */
  markStreamed(res: ServerResponse): void {
    if (this.streamed) return;
    this.streamed = true;
    this.first = undefined;
    this.rest = undefined;
    // Only streamed responses listen for 'close': part of the body went out, so the handler ran,
    // and a response that never ends must still be recorded, or a retry would run it again.
    res.once('close', () => {
      if (this.ended) return;
      this.ended = true;
      captures.delete(res);
      this.sink.finish({ status: res.statusCode, unstorable: 'streamed' });
    });
  }

  private onWrite(res: ServerResponse, chunk: unknown, encoding: unknown): void {
    if (this.buffersWrites) this.take(chunk, encoding);
    else this.markStreamed(res);
  }

  private onEnd(res: ServerResponse, chunk: unknown, encoding: unknown): void {
    if (this.ended) return;
    // A chunk Node refuses makes `end()` throw, and nothing is sent: the response the client gets
    // is the one the app sends next (its error handler's), so that is the one to record.
    if (refusedChunk(chunk, encoding)) return;
    this.ended = true;
    // Nothing more to see: the entry goes now rather than at the next full GC (see `captures`).
    captures.delete(res);
    this.take(chunk, encoding);
    const status = res.statusCode;
    const headers = this.headersFromWriteHead
      ? { ...res.getHeaders(), ...this.headersFromWriteHead }
      : res.getHeaders();
    const unencoded = this.unencoded;
    if (unencoded !== undefined && !this.streamed && encodedAfter(unencoded, status, headers)) {
      const body =
        typeof unencoded.body === 'string' ? Buffer.from(unencoded.body, 'utf8') : unencoded.body;
      this.sink.finish(
        body.byteLength > this.maxBytes
          ? { status, unstorable: 'too-large' }
          : { status, headers: unencoded.headers, body },
      );
      return;
    }
    const unstorable = this.streamed ? 'streamed' : this.tooLarge ? 'too-large' : undefined;
    this.sink.finish(unstorable ? { status, unstorable } : { status, headers, body: this.body() });
  }

  private onWriteHead(args: ArrayLike<unknown>): void {
    if (!this.readsWriteHead) return;
    const headers = typeof args[1] === 'string' ? args[2] : args[1];
    if (headers && typeof headers === 'object') this.headersFromWriteHead = toHeaderRecord(headers);
  }

  private onDestroy(): void {
    if (this.watchesDestroy) this.destroyedByApp = true;
  }

  private take(chunk: unknown, encoding: unknown): void {
    if (
      chunk === undefined ||
      chunk === null ||
      typeof chunk === 'function' ||
      this.streamed ||
      this.tooLarge
    )
      return;
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.isBuffer(chunk)
          ? chunk
          : chunk instanceof Uint8Array
            ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
            : undefined;
    if (!bytes) return;
    this.size += bytes.byteLength;
    if (this.size > this.maxBytes) {
      this.tooLarge = true;
      this.first = undefined;
      this.rest = undefined;
      return;
    }
    if (this.first === undefined) this.first = bytes;
    else (this.rest ??= []).push(bytes);
  }

  private body(): Buffer {
    if (this.first === undefined) return EMPTY;
    if (this.rest === undefined) return this.first;
    return Buffer.concat([this.first, ...this.rest], this.size);
  }

  /** @internal Runs the capture's side of a response method, before the method itself. */
  static observe(
    res: ServerResponse,
    method: ObservedMethod,
    args: ArrayLike<unknown>,
    own = false,
  ): void {
    const capture = captures.get(res);
    if (capture === undefined || capture.ownMethods !== own) return;
    switch (method) {
      case 'write':
        capture.onWrite(res, args[0], args[1]);
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

interface Sent {
  status: number;
  headers: OutgoingHttpHeaders;
}

/**
 * Whether a layer after `beforeSend` encoded the body: it went out with the status it had then,
 * under a Content-Encoding it did not have. Anything else (an error answered instead, a body
 * replaced but not encoded) is stored as written.
 */
function encodedAfter(before: Sent, status: number, sent: OutgoingHttpHeaders): boolean {
  const encoding = sent['content-encoding'];
  return (
    status === before.status &&
    encoding !== undefined &&
    encoding !== 'identity' &&
    encoding !== before.headers['content-encoding']
  );
}

type ObservedMethod = 'write' | 'end' | 'writeHead' | 'destroy';
const OBSERVED: readonly ObservedMethod[] = ['write', 'end', 'writeHead', 'destroy'];

const EMPTY = Buffer.alloc(0);

/** Whether `ServerResponse.prototype` is wrapped (once per process and copy of Tollgate). */
let wrapped = false;

function wrapPrototypeOnce(): void {
  if (wrapped) return;
  wrapped = true;
  const proto = ServerResponse.prototype as unknown as Record<ObservedMethod, Method>;
  for (const name of OBSERVED) {
    const original = proto[name];
    proto[name] = function observed(this: ServerResponse) {
      // `arguments`, not a rest parameter: no array per call on every response of the process.
      // eslint-disable-next-line prefer-rest-params
      const args = arguments as unknown as unknown[];
      ResponseCapture.observe(this, name, args);
      return original.apply(this, args);
    };
  }
}

/** Whether a layer gave this response a `write` or `end` of its own (compression does). */
function replacesBody(res: ServerResponse): boolean {
  return (
    Object.prototype.hasOwnProperty.call(res, 'end') ||
    Object.prototype.hasOwnProperty.call(res, 'write')
  );
}

/**
 * A response that is not a Node.js ServerResponse (a test double, another realm), or one whose
 * body methods a layer replaced: its own methods.
 */
function wrapOwnMethods(res: ServerResponse): void {
  const target = res as unknown as Record<ObservedMethod, Method>;
  for (const name of OBSERVED) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    target[name] = function observed(this: ServerResponse, ...args: unknown[]) {
      ResponseCapture.observe(this, name, args, true);
      return original.apply(this, args);
    };
  }
}
