import { randomUUID } from 'node:crypto';
import { request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  Body,
  Controller,
  HttpCode,
  Module,
  Param,
  Post,
  Res,
  type INestApplication,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { IdempotencyEngine, type IdempotencyRequest } from '../../src/core/idempotency/engine.js';
import { Idempotent, TollgateModule } from '../../src/nest.js';
import { request } from '../helpers/http.js';
import { createNestApp, NEST_PLATFORMS } from '../helpers/nest-platforms.js';

let runs = 0;
/** Not UTF-8, so a replay sends them as bytes rather than as text. */
const UNTYPED_BYTES = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

@Controller('things')
@Idempotent()
class ThingsController {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  @Post(':id')
  update(@Param('id') id: string, @Body() body: unknown): unknown {
    runs++;
    return { id, body, runs };
  }

  /** Sends its own response through the platform, as `@Res()` without passthrough requires. */
  @Post(':id/raw')
  @HttpCode(200)
  raw(@Param('id') id: string, @Res() res: unknown): void {
    runs++;
    const adapter = this.adapterHost.httpAdapter;
    adapter.setHeader(res, 'ETag', `"raw-${runs}"`);
    adapter.reply(res, { id, raw: runs }, 202);
  }

  /** Writes bytes on the Node response itself, without a Content-Type. */
  @Post(':id/untyped')
  @Idempotent({ replayHeaders: ['X-Run'] })
  untyped(@Res() res: { raw?: ServerResponse } & ServerResponse): void {
    runs++;
    const raw = res.raw ?? res;
    raw.writeHead(200, { 'X-Run': String(runs) });
    raw.end(UNTYPED_BYTES);
  }

  /** Writes text on the Node response itself, under a Content-Type that names no charset. */
  @Post(':id/plain')
  plain(@Res() res: { raw?: ServerResponse } & ServerResponse): void {
    runs++;
    const raw = res.raw ?? res;
    raw.writeHead(200, { 'Content-Type': 'text/plain' });
    raw.end(`plain ${runs}`);
  }

  @Post(':id/slow')
  async slow(@Param('id') id: string): Promise<unknown> {
    runs++;
    await sleep(200);
    return { id, slow: runs };
  }
}

@Module({ imports: [TollgateModule.forRoot({})], controllers: [ThingsController] })
class PlatformModule {}

/**
 * What differs between Express and Fastify under Nest: where the route template comes from,
 * how a handler that owns the response writes it, and how a disconnect is seen.
 */
describe.each(NEST_PLATFORMS)('Nest on %s: platform specifics', (platform) => {
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    app = await createNestApp(PlatformModule, platform);
    app.setGlobalPrefix('api');
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  const post = (path: string, key: string, body: unknown = { a: 1 }) =>
    request(baseUrl, 'POST', path, { body, headers: { 'idempotency-key': key } });

  it('describes the request by its route template, with the global prefix, not its path', async () => {
    const begin = vi.spyOn(IdempotencyEngine.prototype, 'begin');
    await post('/api/things/42', randomUUID(), { b: [1, 2] });
    const described = begin.mock.calls[0]?.[0] as IdempotencyRequest;
    expect(described.route).toBe('/api/things/:id');
    expect(described.method).toBe('POST');
    // The platform's parsed JSON body, not its bytes: key order does not matter.
    expect(described.body).toEqual({ b: [1, 2] });
  });

  it('replays the response of a handler that writes it itself through @Res()', async () => {
    const key = randomUUID();
    const before = runs;
    const first = await post('/api/things/7/raw', key);
    const second = await post('/api/things/7/raw', key);
    expect(runs - before).toBe(1);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.text).toBe(first.text);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(second.headers.get('idempotent-replayed')).toBe('true');
  });

  it('replays a @Res() response sent without Content-Type byte for byte, still without one', async () => {
    const key = randomUUID();
    const before = runs;
    const send = () =>
      fetch(`${baseUrl}/api/things/8/untyped`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: '{}',
      });
    const first = await send();
    const firstBytes = Buffer.from(await first.arrayBuffer());
    const second = await send();
    const secondBytes = Buffer.from(await second.arrayBuffer());
    expect(runs - before).toBe(1);
    expect(first.headers.get('content-type')).toBeNull();
    expect(firstBytes).toEqual(UNTYPED_BYTES);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.headers.get('x-run')).toBe(first.headers.get('x-run'));
    expect(second.headers.get('content-type')).toBeNull();
    expect(secondBytes).toEqual(UNTYPED_BYTES);
  });

  it('replays the Content-Type a @Res() handler wrote as it wrote it, with no charset added', async () => {
    const key = randomUUID();
    const first = await post('/api/things/9/plain', key);
    const second = await post('/api/things/9/plain', key);
    expect(first.headers.get('content-type')).toBe('text/plain');
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.headers.get('content-type')).toBe('text/plain');
    expect(second.text).toBe(first.text);
  });

  it('answers a handler that sends its own response with a problem when the key is missing', async () => {
    const before = runs;
    const response = await request(baseUrl, 'POST', '/api/things/7/raw', { body: {} });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.json()).toMatchObject({ status: 400 });
    expect(runs).toBe(before);
  });

  it('keeps the result of a request whose client went away before it finished', async () => {
    const key = randomUUID();
    const before = runs;
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${baseUrl}/api/things/9/slow`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      });
      req.on('error', () => resolve());
      req.end('{}');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    await sleep(400);
    const retry = await post('/api/things/9/slow', key, {});
    expect(runs - before).toBe(1);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
  });
});
