import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

import type { CapturedResponse } from '../core/idempotency/engine.js';

export interface ResponseCaptureOptions {
  /** Bodies larger than this are passed through untouched and reported as `too-large`. */
  maxBytes: number;
  /** Called once, when the response is ended, whether or not the client is still there. */
  onEnd(response: CapturedResponse): void;
  /**
   * What a `write()` before `end()` means: `buffer` (Fastify writes every body that way) keeps the
   * bytes; `stream` (Express answers in one `end()`, so writes are the app streaming) marks the
   * response as streamed. Default `stream`.
   */
  writes?: 'buffer' | 'stream';
  /** Read headers passed to `writeHead()` too (Fastify passes all of them there). Default false. */
  headersFromWriteHead?: boolean;
}

export interface ResponseCapture {
  /** The body is a stream: pass it through and report it as `streamed` rather than buffering it. */
  markStreamed(): void;
  /** Whether `end()` was called. */
  readonly ended: boolean;
}

type WriteCallback = (error?: Error | null) => void;

/**
 * Tees what a handler writes to a Node.js `ServerResponse` (which both Express and Fastify write
 * to underneath) without changing it. It records at `end()`, not at 'finish', so a response is
 * stored even when the client has already disconnected and 'finish' never comes.
 */
export function captureResponse(
  res: ServerResponse,
  options: ResponseCaptureOptions,
): ResponseCapture {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  let streamed = false;
  let ended = false;
  let headersFromWriteHead: OutgoingHttpHeaders = {};

  const take = (chunk: unknown, encoding: unknown): void => {
    if (
      chunk === undefined ||
      chunk === null ||
      typeof chunk === 'function' ||
      streamed ||
      tooLarge
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
    size += bytes.byteLength;
    if (size > options.maxBytes) {
      tooLarge = true;
      chunks.length = 0;
      return;
    }
    chunks.push(bytes);
  };

  const originalWrite = res.write;
  const originalEnd = res.end;
  // Every method replaced on a response costs on every request, so only what the platform needs.
  if (options.headersFromWriteHead) {
    const originalWriteHead = res.writeHead;
    res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
      const headers = typeof args[1] === 'string' ? args[2] : args[1];
      if (headers && typeof headers === 'object') headersFromWriteHead = toHeaderRecord(headers);
      return (originalWriteHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['writeHead'];
  }
  const buffersWrites = options.writes === 'buffer';

  res.write = function write(
    this: ServerResponse,
    chunk: unknown,
    encoding?: unknown,
    callback?: WriteCallback,
  ) {
    if (buffersWrites) take(chunk, encoding);
    else if (!streamed) markStreamed();
    return (originalWrite as (...a: unknown[]) => boolean).call(this, chunk, encoding, callback);
  } as ServerResponse['write'];

  res.end = function end(
    this: ServerResponse,
    chunk?: unknown,
    encoding?: unknown,
    callback?: () => void,
  ) {
    if (!ended) {
      ended = true;
      take(chunk, encoding);
      const status = res.statusCode;
      const unstorable = streamed ? 'streamed' : tooLarge ? 'too-large' : undefined;
      options.onEnd(
        unstorable
          ? { status, unstorable }
          : {
              status,
              headers: options.headersFromWriteHead
                ? { ...res.getHeaders(), ...headersFromWriteHead }
                : res.getHeaders(),
              body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size),
            },
      );
    }
    return (originalEnd as (...a: unknown[]) => ServerResponse).call(
      this,
      chunk,
      encoding,
      callback,
    );
  } as ServerResponse['end'];

  function markStreamed(): void {
    streamed = true;
    chunks.length = 0;
  }

  return {
    markStreamed,
    get ended() {
      return ended;
    },
  };
}

function toHeaderRecord(headers: object): OutgoingHttpHeaders {
  if (Array.isArray(headers)) {
    // writeHead also takes a flat [name, value, name, value] list.
    const record: OutgoingHttpHeaders = {};
    for (let i = 0; i + 1 < headers.length; i += 2)
      record[String(headers[i]).toLowerCase()] = headers[i + 1] as string;
    return record;
  }
  const record: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) record[name.toLowerCase()] = value as string;
  return record;
}
