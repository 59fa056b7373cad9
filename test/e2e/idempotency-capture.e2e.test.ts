import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { request as httpRequest } from 'node:http';
import { Readable, pipeline } from 'node:stream';

import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpException,
  Module,
  Post,
  Put,
  Res,
  StreamableFile,
  type INestApplication,
} from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { map, timer, type Observable } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  Idempotent,
  IdempotencyInterceptor,
  SkipIdempotency,
  TollgateModule,
} from '../../src/nest.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { request } from '../helpers/http.js';
import { createNestApp, NEST_PLATFORMS } from '../helpers/nest-platforms.js';

let runs = 0;

@Controller('capture')
@Idempotent()
class CaptureController {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  @Post('object')
  object(@Body() body: unknown): unknown {
    runs++;
    return { runs, body };
  }

  @Post('text')
  text(): string {
    runs++;
    return `plain text ${runs}`;
  }

  @Post('buffer')
  buffer(): Buffer {
    runs++;
    return Buffer.from([0, 1, 2, 255, runs]);
  }

  @Post('nothing')
  @HttpCode(204)
  nothing(): void {
    runs++;
  }

  @Post('empty-200')
  @HttpCode(200)
  empty(): undefined {
    runs++;
    return undefined;
  }

  @Post('passthrough')
  passthrough(@Res({ passthrough: true }) res: unknown): unknown {
    runs++;
    // Through Nest's adapter: Express's response and Fastify's reply set status and headers differently.
    const adapter = this.adapterHost.httpAdapter;
    adapter.status(res, 202);
    adapter.setHeader(res, 'ETag', `"v${runs}"`);
    adapter.setHeader(res, 'X-Internal', 'not replayed');
    return { accepted: runs };
  }

  @Post('http-error')
  httpError(): never {
    runs++;
    throw new HttpException({ message: 'out of stock', runs }, 409 + 1); // 410 Gone: stored
  }

  @Post('stream')
  stream(): StreamableFile {
    runs++;
    return new StreamableFile(
      Readable.from([Buffer.from('chunk-1;'), Buffer.from(`chunk-${runs}`)]),
    );
  }

  @Post('large')
  large(): string {
    runs++;
    return 'x'.repeat(2 * 1024 * 1024);
  }

  @Post('async')
  async asynchronous(): Promise<unknown> {
    runs++;
    await new Promise((resolve) => setTimeout(resolve, 10));
    return { runs };
  }

  /**
   * Sends its own response, and hands it to a stream that fails before its first byte, after the
   * handler returned: pipeline() destroys the response, and nothing is ever sent.
   */
  @Post('own-response-destroyed')
  ownResponseDestroyed(@Res() res: { raw?: NodeJS.WritableStream } & NodeJS.WritableStream): void {
    runs++;
    const failing = new Readable({
      read() {
        setTimeout(() => this.destroy(new Error('the file is gone')), 10);
      },
    });
    pipeline(failing, res.raw ?? res, () => undefined);
  }

  /** Nest tears an Observable down when the client leaves, and then sends nothing at all. */
  @Post('observable')
  observable(): Observable<unknown> {
    runs++;
    return timer(300).pipe(map(() => ({ runs })));
  }
}

@Controller('global')
class GlobalController {
  @Post()
  create(): unknown {
    runs++;
    return { runs };
  }

  @Put()
  replace(): unknown {
    runs++;
    return { runs };
  }

  @Delete()
  remove(): unknown {
    runs++;
    return { runs };
  }

  @Get()
  read(): unknown {
    runs++;
    return { runs };
  }

  @Post('skipped')
  @SkipIdempotency()
  skipped(): unknown {
    runs++;
    return { runs };
  }

  @Post('fingerprint')
  @Idempotent({ strategy: 'fingerprint', window: '5s' })
  fingerprint(): unknown {
    runs++;
    return { runs };
  }
}

@Module({
  imports: [
    TollgateModule.forRootAsync({
      useFactory: async () => ({ store: new MemoryStore(), idempotency: { retention: '1h' } }),
    }),
  ],
  controllers: [CaptureController, GlobalController],
  providers: [{ provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor }],
})
class CaptureModule {}

describe.each(NEST_PLATFORMS)('Nest response capture and global registration on %s', (platform) => {
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    app = await createNestApp(CaptureModule, platform);
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  async function twice(path: string, method = 'POST', key: string | null = randomUUID()) {
    const headers: Record<string, string> = key ? { 'idempotency-key': key } : {};
    const before = runs;
    const body = method === 'GET' ? {} : { body: { a: 1 } };
    const first = await request(baseUrl, method, path, { ...body, headers });
    const second = await request(baseUrl, method, path, { ...body, headers });
    return { first, second, executions: runs - before };
  }

  it.each(['object', 'text', 'async', 'http-error'])(
    'replays a %s response byte for byte',
    async (path) => {
      const { first, second, executions } = await twice(`/capture/${path}`);
      expect(executions).toBe(1);
      expect(second.status).toBe(first.status);
      expect(second.text).toBe(first.text);
      expect(second.headers.get('content-type')).toBe(first.headers.get('content-type'));
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      expect(first.headers.get('idempotent-replayed')).toBeNull();
    },
  );

  it('replays a Buffer as the same bytes', async () => {
    const key = randomUUID();
    const first = await fetch(`${baseUrl}/capture/buffer`, {
      method: 'POST',
      headers: { 'idempotency-key': key },
    });
    const second = await fetch(`${baseUrl}/capture/buffer`, {
      method: 'POST',
      headers: { 'idempotency-key': key },
    });
    expect(Buffer.from(await second.arrayBuffer())).toEqual(Buffer.from(await first.arrayBuffer()));
    expect(second.headers.get('idempotent-replayed')).toBe('true');
  });

  it('releases the key when the client leaves and Nest sends nothing, so a retry runs at once', async () => {
    const key = randomUUID();
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${baseUrl}/capture/observable`, {
        method: 'POST',
        headers: { 'idempotency-key': key },
      });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 60);
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const before = runs;
    const retry = await fetch(`${baseUrl}/capture/observable`, {
      method: 'POST',
      headers: { 'idempotency-key': key },
    });
    // Not 409 until the 30 s lease runs out: the abandoned run gave its key back.
    expect(retry.status).toBe(201);
    expect(runs - before).toBe(1);
  });

  it('releases the key when a handler that sends its own response destroys it before any byte', async () => {
    const key = randomUUID();
    const attempt = async (): Promise<void> => {
      await fetch(`${baseUrl}/capture/own-response-destroyed`, {
        method: 'POST',
        headers: { 'idempotency-key': key },
      }).catch(() => undefined);
    };
    const before = runs;
    await attempt();
    expect(runs - before).toBe(1);
    // Well within the 30 s lease: released at once, not left in progress (renewed for ever).
    await expect.poll(async () => (await attempt(), runs - before), { timeout: 2_000 }).toBe(2);
  });

  it('replays a 204 as a 204 with no body', async () => {
    const { first, second, executions } = await twice('/capture/nothing');
    expect(executions).toBe(1);
    expect(first.status).toBe(204);
    expect(second.status).toBe(204);
    expect(second.text).toBe('');
    expect(second.headers.get('idempotent-replayed')).toBe('true');
  });

  it('replays an empty 200 as an empty 200', async () => {
    const { second, executions } = await twice('/capture/empty-200');
    expect(executions).toBe(1);
    expect(second.status).toBe(200);
    expect(second.text).toBe('');
  });

  it('keeps a status and allow-listed headers set through @Res({ passthrough: true })', async () => {
    const { first, second } = await twice('/capture/passthrough');
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(first.headers.get('x-internal')).toBe('not replayed');
    expect(second.headers.get('x-internal')).toBeNull();
  });

  it('passes a stream through untouched and tells duplicates it cannot be replayed', async () => {
    const { first, second, executions } = await twice('/capture/stream');
    expect(first.status).toBe(201);
    expect(first.text).toMatch(/^chunk-1;chunk-\d+$/);
    expect(executions).toBe(1);
    expect(second.status).toBe(409);
    expect(second.json()).toMatchObject({
      type: expect.stringMatching(/response-not-replayable\.md$/),
      reason: 'streamed',
    });
  });

  it('passes a response over maxResponseBytes through and does not run the handler again', async () => {
    const { first, second, executions } = await twice('/capture/large');
    expect(first.text).toHaveLength(2 * 1024 * 1024);
    expect(executions).toBe(1);
    expect(second.status).toBe(409);
    expect(second.json()).toMatchObject({ reason: 'too-large' });
  });

  it('registered globally, protects POST, PUT and DELETE that carry a key', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const { second, executions } = await twice('/global', method);
      expect(executions, method).toBe(1);
      expect(second.headers.get('idempotent-replayed'), method).toBe('true');
    }
  });

  it('registered globally, leaves requests without a key and GET requests alone', async () => {
    expect((await twice('/global', 'POST', null)).executions).toBe(2);
    expect((await twice('/global', 'GET')).executions).toBe(2);
  });

  it('@SkipIdempotency excludes a route from global protection', async () => {
    expect((await twice('/global/skipped')).executions).toBe(2);
  });

  it('@Idempotent refines a route under global registration, and the two never stack', async () => {
    const { second, executions } = await twice('/global/fingerprint', 'POST', null);
    expect(executions).toBe(1);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
  });

  it('@Idempotent on a controller requires the key on every route of it', async () => {
    const response = await request(baseUrl, 'POST', '/capture/object', { body: {} });
    expect(response.status).toBe(400);
  });
});
