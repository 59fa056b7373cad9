import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';

import compress from '@fastify/compress';
import { Controller, Header, Module, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Idempotent, TollgateModule } from '../../src/nest.js';

const runs = new Map<string, number>();
const ran = (name: string): number => {
  const n = (runs.get(name) ?? 0) + 1;
  runs.set(name, n);
  return n;
};

/**
 * Bodies on both of @fastify/compress's paths: one compressed in one go (below its smallest
 * `syncThreshold`, 4 KiB), one streamed through zlib (above its largest, 64 KiB), so the encoded
 * bytes reach the Node response as one `end` or as many `write`s. Non-ASCII text, so a body cut
 * or re-encoded anywhere shows.
 */
const SMALL = `${'compressible '.repeat(150)}\u00e9\u{1F600}`;
const LARGE = `${'compressible, and then some '.repeat(4_000)}\u00e9\u{1F600}`;

@Controller('compressed')
@Idempotent()
class CompressedController {
  /** JSON, which a replay sends as text. */
  @Post('json')
  json(): unknown {
    return { run: ran('json'), text: SMALL };
  }

  @Post('large')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  large(): string {
    ran('large');
    return LARGE;
  }

  /** Bytes under a type that names no charset, which a replay sends as a stream of the bytes. */
  @Post('bytes/:id')
  @Header('Content-Type', 'text/csv')
  bytes(@Param('id') id: string): Buffer {
    ran('bytes');
    return Buffer.from(`${id},${SMALL}`, 'utf8');
  }
}

@Module({ imports: [TollgateModule.forRoot({})], controllers: [CompressedController] })
class CompressedModule {}

/** A response read as its raw bytes, so the encoding the client was sent is what is checked. */
interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  raw: Buffer;
}

/** The body the client decodes, by the Content-Encoding it was given. */
function decoded(response: RawResponse): string {
  const encoding = response.headers['content-encoding'];
  const bytes =
    encoding === 'gzip'
      ? gunzipSync(response.raw)
      : encoding === 'br'
        ? brotliDecompressSync(response.raw)
        : response.raw;
  return bytes.toString('utf8');
}

/** The ways an app gets its platform and the plugin: Tollgate's hook must come first in each. */
const SETUPS = {
  /** As Nest's docs do it: the plugin registered on the app. */
  'registered on the app': async () => {
    const app = await NestFactory.create<NestFastifyApplication>(
      CompressedModule,
      new FastifyAdapter(),
      { logger: false },
    );
    await app.register(compress);
    return app;
  },
  /** The plugin loaded on Fastify itself before the app and its modules exist. */
  'registered on the adapter first': async () => {
    const adapter = new FastifyAdapter();
    await adapter.getInstance().register(compress);
    return NestFactory.create<NestFastifyApplication>(CompressedModule, adapter, { logger: false });
  },
  /** A testing module makes the interceptor before the app gives it its platform. */
  'in a testing module': async () => {
    const moduleRef = await Test.createTestingModule({ imports: [CompressedModule] }).compile();
    const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
      logger: false,
    });
    await app.register(compress);
    return app;
  },
} satisfies Record<string, () => Promise<NestFastifyApplication>>;

/**
 * Nest over Fastify with @fastify/compress: its onSend hook rewrites the body and headers after
 * the handler. Each client must get the body in the encoding it accepts, whichever client came
 * first, and the handler run once.
 */
describe.each(Object.keys(SETUPS) as Array<keyof typeof SETUPS>)(
  'Nest on Fastify with @fastify/compress %s',
  (setup) => {
    let app: NestFastifyApplication;
    let port: number;

    beforeAll(async () => {
      app = await SETUPS[setup]();
      await app.listen(0, '127.0.0.1');
      port = (app.getHttpServer().address() as AddressInfo).port;
    });

    afterAll(async () => {
      await app?.close();
    });

    /** A POST with no body, read as raw bytes: fetch would decode and hide the encoding. */
    const post = (path: string, key: string, acceptEncoding: string): Promise<RawResponse> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path,
            method: 'POST',
            headers: { 'idempotency-key': key, 'accept-encoding': acceptEncoding },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                raw: Buffer.concat(chunks),
              }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      });

    /**
     * What every response must be: its declared encoding and length true of its bytes, and Vary as
     * @fastify/compress sets it on a fresh response, `accept-encoding` once on an encoded body and
     * nothing on an identity one.
     */
    function expectWellFormed(response: RawResponse, encoding: string | undefined): void {
      expect(response.headers['content-encoding']).toBe(encoding);
      const length = response.headers['content-length'];
      if (encoding === undefined) {
        expect(length).toBe(String(response.raw.byteLength));
        expect(response.headers.vary).toBeUndefined();
      } else {
        // Chunked when compressed as a stream.
        if (length !== undefined) expect(length).toBe(String(response.raw.byteLength));
        expect(response.headers.vary).toBe('accept-encoding');
      }
    }

    it.each([
      ['json', '/compressed/json'],
      ['large', '/compressed/large'],
      ['bytes', '/compressed/bytes/7'],
    ])(
      '%s: the first client gzip, replays to identity, br and gzip, each in its own encoding',
      async (name, path) => {
        const key = randomUUID();
        const before = runs.get(name) ?? 0;
        const first = await post(path, key, 'gzip');
        expect(first.status).toBe(201);
        expectWellFormed(first, 'gzip');
        const original = decoded(first);
        expect(original.length).toBeGreaterThan(1_024);
        expect(original).toContain('\u00e9\u{1F600}');

        for (const [accept, encoding] of [
          ['identity', undefined],
          ['br', 'br'],
          ['gzip', 'gzip'],
        ] as const) {
          const replay = await post(path, key, accept);
          expect(replay.status).toBe(201);
          expect(replay.headers['idempotent-replayed']).toBe('true');
          expect(replay.headers['content-type']).toBe(first.headers['content-type']);
          expectWellFormed(replay, encoding);
          expect(decoded(replay)).toBe(original);
        }
        expect((runs.get(name) ?? 0) - before).toBe(1);
      },
    );

    it.each([
      ['json', '/compressed/json'],
      ['large', '/compressed/large'],
      ['bytes', '/compressed/bytes/8'],
    ])('%s: the first client identity, a replay to gzip is compressed', async (name, path) => {
      const key = randomUUID();
      const before = runs.get(name) ?? 0;
      const first = await post(path, key, 'identity');
      expect(first.status).toBe(201);
      expectWellFormed(first, undefined);
      const original = first.raw.toString('utf8');

      const replay = await post(path, key, 'gzip');
      expect(replay.status).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expectWellFormed(replay, 'gzip');
      expect(decoded(replay)).toBe(original);
      expect((runs.get(name) ?? 0) - before).toBe(1);
    });
  },
);
