import { EventEmitter, once } from 'node:events';
import {
  createServer,
  ServerResponse,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';

import { beforeEach, describe, expect, it, vi } from 'vitest';

import type { CapturedResponse } from '../../src/core/idempotency/engine.js';
import type * as CaptureModule from '../../src/http/response-capture.js';

type Capture = typeof CaptureModule.ResponseCapture;
type ResponseCaptureOptions = CaptureModule.ResponseCaptureOptions;

/**
 * `attach` wraps `ServerResponse.prototype` the first time it meets a real response, once per
 * process. Each test starts from the state of a fresh process: the prototype's methods as Node
 * made them, and a fresh copy of the module (which has not wrapped anything yet).
 */
const OBSERVED = ['write', 'end', 'writeHead', 'destroy'] as const;
const proto = ServerResponse.prototype as unknown as Record<string, unknown>;
const pristine = new Map(
  OBSERVED.map((name) => [name, Object.getOwnPropertyDescriptor(proto, name)] as const),
);
const pristineEnd = proto.end;

function restorePrototype(): void {
  for (const [name, descriptor] of pristine) {
    // write, end and destroy are inherited from OutgoingMessage.prototype; writeHead is own.
    if (descriptor) Object.defineProperty(proto, name, descriptor);
    else delete proto[name];
  }
}

let ResponseCapture: Capture;

beforeEach(async () => {
  restorePrototype();
  vi.resetModules();
  ({ ResponseCapture } = await import('../../src/http/response-capture.js'));
});

/** `gc()`, made available to this process without a command-line flag. */
function garbageCollector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** A sink that records every response it is given. */
function recordingSink(): { finish(response: CapturedResponse): void; calls: CapturedResponse[] } {
  const calls: CapturedResponse[] = [];
  return { calls, finish: (response) => void calls.push(response) };
}

const options = (extra: Partial<ResponseCaptureOptions> = {}): ResponseCaptureOptions => ({
  maxBytes: 1_024,
  ...extra,
});

/** Serves one handler on a free loopback port, answers one request with it, then stops. */
async function serveOnce(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`, init);
    return {
      status: response.status,
      headers: response.headers,
      body: Buffer.from(await response.arrayBuffer()),
    };
  } finally {
    const closed = new Promise((done) => server.close(done));
    server.closeAllConnections();
    await closed;
  }
}

function storedBody(response: CapturedResponse | undefined): string {
  expect(response).toBeDefined();
  if (!response || 'unstorable' in response)
    throw new Error(`expected a stored response, got ${JSON.stringify(response)}`);
  return Buffer.from(response.body).toString('utf8');
}

describe('ResponseCapture on a real http.ServerResponse', () => {
  it('hands status, headers and body of res.end(string) to the sink, and the client gets the same response', async () => {
    const sink = recordingSink();
    let headersAtEnd: OutgoingHttpHeaders | undefined;
    let capture: CaptureModule.ResponseCapture | undefined;
    const received = await serveOnce((_req, res) => {
      res.statusCode = 201;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.setHeader('x-order', ['a', 'b']);
      capture = ResponseCapture.attach(res, sink, options());
      expect(capture.ended).toBe(false);
      headersAtEnd = res.getHeaders();
      res.end('héllo wörld');
    });

    expect(sink.calls).toHaveLength(1);
    const [captured] = sink.calls;
    expect(captured).toEqual({
      status: 201,
      headers: headersAtEnd,
      body: Buffer.from('héllo wörld', 'utf8'),
    });
    expect(capture?.ended).toBe(true);

    expect(received.status).toBe(201);
    expect(received.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(received.headers.get('x-order')).toBe('a, b');
    expect(received.body.toString('utf8')).toBe('héllo wörld');
  });

  it('adds no property to the response it captures', async () => {
    let before: string[] = [];
    let after: string[] = [];
    await serveOnce((_req, res) => {
      before = Reflect.ownKeys(res).map(String);
      ResponseCapture.attach(res, recordingSink(), options());
      after = Reflect.ownKeys(res).map(String);
      res.end('ok');
    });
    expect(after).toEqual(before);
  });

  it('captures a body ended through a res.end that another layer replaced before attach (compression), on a later request', async () => {
    // A first capture in this process wraps the prototype; the layer below runs on a later request.
    await serveOnce((_req, res) => {
      ResponseCapture.attach(res, recordingSink(), options());
      res.end('first');
    });

    const sink = recordingSink();
    const received = await serveOnce((_req, res) => {
      replaceEndLikeCompression(res);
      ResponseCapture.attach(res, sink, options());
      res.end('compressed?');
    });
    expect(sink.calls.map(storedBody)).toEqual(['compressed?']);
    expect(received.body.toString('utf8')).toBe('compressed?');
  });

  // A layer that copies `res.end` per request (compression) keeps whatever `end` it found, so the
  // prototype must be wrapped before the first request: the adapters call prepare() when created.
  it('captures a body ended through a res.end that another layer replaced before attach (compression), on the first request after prepare()', async () => {
    ResponseCapture.prepare();
    const sink = recordingSink();
    const received = await serveOnce((_req, res) => {
      replaceEndLikeCompression(res);
      ResponseCapture.attach(res, sink, options());
      res.end('compressed?');
    });
    expect(received.body.toString('utf8')).toBe('compressed?');
    expect(sink.calls.map(storedBody)).toEqual(['compressed?']);
  });

  it('is prepared by creating the Express middleware, before any request', async () => {
    expect(proto.end).toBe(pristineEnd);
    const { idempotent } = await import('../../src/express/idempotent.js');
    const { MemoryStore } = await import('../../src/stores/memory/memory-store.js');
    const store = new MemoryStore();
    idempotent({ store });
    expect(proto.end).not.toBe(pristineEnd);
    await store.close();
  });

  it('captures a body ended through a res.end that another layer replaced after attach', async () => {
    const sink = recordingSink();
    const received = await serveOnce((_req, res) => {
      ResponseCapture.attach(res, sink, options());
      replaceEndLikeCompression(res);
      res.end('compressed?');
    });
    expect(sink.calls.map(storedBody)).toEqual(['compressed?']);
    expect(received.body.toString('utf8')).toBe('compressed?');
  });

  it("with writes: 'stream', reports a response written before end() as streamed, and passes it through", async () => {
    const sink = recordingSink();
    const received = await serveOnce((_req, res) => {
      res.statusCode = 202;
      ResponseCapture.attach(res, sink, options({ writes: 'stream' }));
      res.write('ab');
      res.write(Buffer.from('cd'));
      res.end('ef');
    });
    expect(sink.calls).toEqual([{ status: 202, unstorable: 'streamed' }]);
    expect(received.status).toBe(202);
    expect(received.body.toString('utf8')).toBe('abcdef');
  });

  it('treats writes as streaming when no writes option is given', async () => {
    const sink = recordingSink();
    await serveOnce((_req, res) => {
      ResponseCapture.attach(res, sink, options());
      res.write('ab');
      res.end();
    });
    expect(sink.calls).toEqual([{ status: 200, unstorable: 'streamed' }]);
  });

  it("with writes: 'buffer', concatenates every chunk written before and at end()", async () => {
    const sink = recordingSink();
    const received = await serveOnce((_req, res) => {
      ResponseCapture.attach(res, sink, options({ writes: 'buffer' }));
      res.write('ab');
      res.write(Buffer.from('cd'));
      res.write(new Uint8Array([0x65, 0x66])); // "ef"
      res.write('Z2g=', 'base64'); // "gh"
      res.end('ij');
    });
    expect(sink.calls.map(storedBody)).toEqual(['abcdefghij']);
    expect(received.body.toString('utf8')).toBe('abcdefghij');
  });

  it('reports a body above maxBytes as too-large, and still sends all of it', async () => {
    const sink = recordingSink();
    const body = 'x'.repeat(11);
    const received = await serveOnce((_req, res) => {
      ResponseCapture.attach(res, sink, options({ maxBytes: 10 }));
      res.end(body);
    });
    expect(sink.calls).toEqual([{ status: 200, unstorable: 'too-large' }]);
    expect(received.body.toString('utf8')).toBe(body);
  });

  it('counts buffered writes together against maxBytes, and keeps a body of exactly maxBytes', async () => {
    const tooLarge = recordingSink();
    await serveOnce((_req, res) => {
      ResponseCapture.attach(res, tooLarge, options({ maxBytes: 10, writes: 'buffer' }));
      res.write('123456');
      res.end('78901');
    });
    expect(tooLarge.calls).toEqual([{ status: 200, unstorable: 'too-large' }]);

    const exact = recordingSink();
    await serveOnce((_req, res) => {
      ResponseCapture.attach(res, exact, options({ maxBytes: 10, writes: 'buffer' }));
      res.write('12345');
      res.end('67890');
    });
    expect(exact.calls.map(storedBody)).toEqual(['1234567890']);
  });

  // What Fastify does with @fastify/compress: the body goes to its onSend hooks (where
  // `beforeSend` is told of it), and the encoded bytes go out with writeHead's headers.
  const fastifyLike = (extra: Partial<ResponseCaptureOptions> = {}) =>
    options({ writes: 'buffer', headersFromWriteHead: true, ...extra });

  it('stores the body and headers given to beforeSend when a layer then encodes the body, and sends the encoded bytes', async () => {
    const sink = recordingSink();
    const body = 'plain body \u00e9';
    const received = await serveOnce(
      (_req, res) => {
        ResponseCapture.attach(res, sink, fastifyLike());
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        ResponseCapture.beforeSend(res, body, res);
        res.writeHead(200, {
          'content-type': 'text/plain; charset=utf-8',
          'content-encoding': 'gzip',
          vary: 'accept-encoding',
        });
        res.end(gzipSync(body));
      },
      { headers: { 'accept-encoding': 'gzip' } },
    );
    expect(sink.calls).toEqual([
      {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: Buffer.from(body, 'utf8'),
      },
    ]);
    expect(received.headers.get('content-encoding')).toBe('gzip');
    expect(received.body.toString('utf8')).toBe(body);
  });

  it('stores what was written when no layer encoded the body given to beforeSend, or the status changed', async () => {
    const replaced = recordingSink();
    await serveOnce((_req, res) => {
      ResponseCapture.attach(res, replaced, fastifyLike());
      ResponseCapture.beforeSend(res, 'handler', res);
      res.end('rewritten');
    });
    expect(replaced.calls.map(storedBody)).toEqual(['rewritten']);

    // An error answered in its place, under an encoding a layer had already set.
    const failed = recordingSink();
    const error = gzipSync('error');
    await serveOnce((_req, res) => {
      ResponseCapture.attach(res, failed, fastifyLike());
      ResponseCapture.beforeSend(res, 'handler', res);
      res.writeHead(500, { 'content-encoding': 'gzip' });
      res.end(error);
    });
    expect(failed.calls).toEqual([
      { status: 500, headers: { 'content-encoding': 'gzip' }, body: error },
    ]);
  });

  it('measures maxBytes on the body given to beforeSend, not on its encoding', async () => {
    const sink = recordingSink();
    const body = 'x'.repeat(101);
    const encoded = gzipSync(body);
    expect(encoded.byteLength).toBeLessThan(100);
    await serveOnce((_req, res) => {
      ResponseCapture.attach(res, sink, fastifyLike({ maxBytes: 100 }));
      ResponseCapture.beforeSend(res, body, res);
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(encoded);
    });
    expect(sink.calls).toEqual([{ status: 200, unstorable: 'too-large' }]);
  });

  it('refuses to capture one response twice', async () => {
    const first = recordingSink();
    const second = recordingSink();
    let error: unknown;
    await serveOnce((_req, res) => {
      ResponseCapture.attach(res, first, options());
      try {
        ResponseCapture.attach(res, second, options());
      } catch (caught) {
        error = caught;
      }
      res.end('once');
    });
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/already captured/);
    expect(first.calls.map(storedBody)).toEqual(['once']);
    expect(second.calls).toEqual([]);
  });

  it('passes a response that is not captured through untouched once the prototype is wrapped', async () => {
    const sink = recordingSink();
    await serveOnce((_req, res) => {
      ResponseCapture.attach(res, sink, options());
      res.end('captured');
    });
    // The regression this guards needs the prototype wrapped by the capture above.
    expect(proto.end).not.toBe(pristineEnd);

    const received = await serveOnce((_req, res) => {
      res.statusCode = 418;
      res.setHeader('x-plain', 'yes');
      res.write('not ');
      res.end('captured');
    });
    expect(sink.calls).toHaveLength(1);
    expect(received.status).toBe(418);
    expect(received.headers.get('x-plain')).toBe('yes');
    expect(received.body.toString('utf8')).toBe('not captured');
  });

  it('holds no reference to its response, so a capture still in use never keeps the response alive', async () => {
    // The capture lives on while the store records the result (the sink keeps it here); V8's
    // young-generation GC also keeps WeakMap values alive. Neither may pin the response, its
    // request and everything they hold.
    const collect = garbageCollector();
    const sink = recordingSink();
    const held: CaptureModule.ResponseCapture[] = [];
    const responses: Array<WeakRef<ServerResponse>> = [];
    for (let i = 0; i < 3; i++) {
      await serveOnce((_req, res) => {
        held.push(ResponseCapture.attach(res, sink, options()));
        responses.push(new WeakRef(res));
        res.end(`body ${i}`);
      });
    }
    expect(sink.calls.map(storedBody)).toEqual(['body 0', 'body 1', 'body 2']);
    expect(held.every((capture) => capture.ended)).toBe(true);
    // A WeakRef's target survives until the current job ends: collect in a later turn.
    await new Promise((resolve) => setTimeout(resolve, 10));
    collect();
    await new Promise((resolve) => setTimeout(resolve, 10));
    collect();
    expect(responses.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
  });

  it('with watchDestroy, notes that the app destroyed the response', async () => {
    let watched: CaptureModule.ResponseCapture | undefined;
    const sink = recordingSink();
    await expect(
      serveOnce((_req, res) => {
        watched = ResponseCapture.attach(res, sink, options({ watchDestroy: true }));
        res.destroy();
      }),
    ).rejects.toThrow();
    expect(watched?.destroyedByApp).toBe(true);
    expect(watched?.ended).toBe(false);
    expect(sink.calls).toEqual([]);
  });

  it('without watchDestroy, leaves destroyedByApp false', async () => {
    let unwatched: CaptureModule.ResponseCapture | undefined;
    await expect(
      serveOnce((_req, res) => {
        unwatched = ResponseCapture.attach(res, recordingSink(), options());
        res.destroy();
      }),
    ).rejects.toThrow();
    expect(unwatched?.destroyedByApp).toBe(false);
  });
});

describe('ResponseCapture on an object that is not an http.ServerResponse', () => {
  it('captures through the object’s own methods, which still run', () => {
    const sink = recordingSink();
    const calls: string[] = [];
    const fake = Object.assign(new EventEmitter(), {
      statusCode: 207,
      getHeaders: (): OutgoingHttpHeaders => ({ 'content-type': 'application/json' }),
      write(chunk: unknown): boolean {
        calls.push(`write:${String(chunk)}`);
        return true;
      },
      end(chunk?: unknown): unknown {
        calls.push(`end:${String(chunk)}`);
        return fake;
      },
    });

    const capture = ResponseCapture.attach(
      fake as unknown as ServerResponse,
      sink,
      options({ writes: 'buffer' }),
    );
    fake.write('{"a"');
    fake.end(':1}');

    expect(calls).toEqual(['write:{"a"', 'end::1}']);
    expect(sink.calls).toEqual([
      {
        status: 207,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{"a":1}'),
      },
    ]);
    expect(capture.ended).toBe(true);
    // Its own methods were wrapped; the prototype of real responses was left alone.
    expect(proto.end).toBe(pristineEnd);
  });

  it('notes a destroy() of its own with watchDestroy', () => {
    let destroyed = false;
    const fake = Object.assign(new EventEmitter(), {
      statusCode: 200,
      getHeaders: (): OutgoingHttpHeaders => ({}),
      end: (): void => undefined,
      destroy: (): void => {
        destroyed = true;
      },
    });
    const capture = ResponseCapture.attach(
      fake as unknown as ServerResponse,
      recordingSink(),
      options({ watchDestroy: true }),
    );
    fake.destroy();
    expect(destroyed).toBe(true);
    expect(capture.destroyedByApp).toBe(true);
  });
});

/** What the `compression` middleware does to every response: an own `end` that calls the one it found. */
function replaceEndLikeCompression(res: ServerResponse): void {
  const end = res.end;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['end'];
}
