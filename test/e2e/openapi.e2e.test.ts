/**
 * The OpenAPI document of a Nest app documents what Tollgate does on each route, with no work by
 * the app: the sample's document as it serves it at /docs-json on both Nest platforms, and a
 * small app protected only by global registration and module defaults. Every document must
 * validate as OpenAPI 3 and every `$ref` in it must resolve.
 */
import 'reflect-metadata';

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

import { Body, Controller, Get, Module, Post, type INestApplication } from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import {
  ApiExtension,
  ApiHeader,
  ApiResponse,
  DECORATORS,
  DocumentBuilder,
  type OpenAPIObject,
  type OperationObject,
  type ParameterObject,
  type ResponseObject,
} from '@nestjs/swagger';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import { createExpressSampleApp } from '../../sample-app/src/express/create-app.js';
import { TollgateConfigError } from '../../src/core/errors.js';
import { documentTollgateRoute, idempotent, throttle } from '../../src/express.js';
import { createTollgateDocument } from '../../src/nest-openapi.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import {
  IdempotencyInterceptor,
  Idempotent,
  SkipIdempotency,
  SkipThrottle,
  Throttle,
  ThrottleGuard,
  TollgateModule,
} from '../../src/nest.js';
import { request } from '../helpers/http.js';
import { NEST_PLATFORMS, createNestApp } from '../helpers/nest-platforms.js';

const PROBLEM_REF = '#/components/schemas/ProblemDetails';
const IDEMPOTENCY_PROBLEMS = ['400', '409', '422', '503'];

/** Valid OpenAPI 3 by a real validator, and no `$ref` that points nowhere. */
async function expectValidOpenApi3(document: OpenAPIObject): Promise<void> {
  expect(document.openapi).toMatch(/^3\./);
  const result = await new Validator().validate(
    structuredClone(document) as unknown as Record<string, unknown>,
  );
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  const text = JSON.stringify(document);
  for (const [, pointer] of text.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
    const target = pointer!
      .split('/')
      .reduce<unknown>((node, part) => (node as Record<string, unknown>)?.[part], document);
    expect(target, pointer).toBeDefined();
  }
  // The marker that ties operations to handlers never leaks into the document.
  expect(text).not.toContain('x-tollgate-route');
}

function operation(document: OpenAPIObject, path: string, method: string): OperationObject {
  const found = (document.paths[path] as Record<string, OperationObject> | undefined)?.[method];
  if (!found) throw new Error(`no ${method.toUpperCase()} ${path} in the document`);
  return found;
}

function keyHeader(op: OperationObject, name = 'Idempotency-Key'): ParameterObject | undefined {
  return (op.parameters ?? []).find(
    (parameter): parameter is ParameterObject =>
      !('$ref' in parameter) && parameter.in === 'header' && parameter.name === name,
  );
}

function response(op: OperationObject, status: string): ResponseObject {
  const found = op.responses?.[status];
  if (!found || '$ref' in found) throw new Error(`no ${status} response`);
  return found;
}

function headersOf(op: OperationObject, status: string): string[] {
  return Object.keys(response(op, status).headers ?? {}).sort();
}

function expectProblem(op: OperationObject, status: string): void {
  expect(response(op, status).content?.['application/problem+json']?.schema).toEqual({
    $ref: PROBLEM_REF,
  });
}

/** Nothing of Tollgate on an unprotected operation (`/health` documents its own 503). */
function expectUntouched(op: OperationObject): void {
  expect(keyHeader(op)).toBeUndefined();
  for (const [status, answer] of Object.entries(op.responses ?? {})) {
    const { content, headers } = answer as ResponseObject;
    expect(content?.['application/problem+json'], status).toBeUndefined();
    expect(Object.keys(headers ?? {}), status).toEqual([]);
  }
}

/** The sample's three variants, each started in this process and closed again. */
const SAMPLES = [
  { name: 'Nest on Express', start: () => startNest('express') },
  { name: 'Nest on Fastify', start: () => startNest('fastify') },
  { name: 'plain Express', start: startExpress },
] as const;

interface RunningSample {
  baseUrl: string;
  close(): Promise<void>;
}

async function startNest(platform: 'express' | 'fastify'): Promise<RunningSample> {
  const { app } = await createSampleApp({ logger: false, platform });
  await app.listen(0, '127.0.0.1');
  return {
    baseUrl: (await app.getUrl()).replace('[::1]', '127.0.0.1'),
    close: () => app.close(),
  };
}

async function startExpress(): Promise<RunningSample> {
  const { app, store } = await createExpressSampleApp({ logger: false });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
      await store.close?.();
    },
  };
}

describe.each(SAMPLES)('the sample serves its OpenAPI document ($name)', ({ start }) => {
  let sample: RunningSample;
  let document: OpenAPIObject;
  beforeAll(async () => {
    sample = await start();
    const served = await request(sample.baseUrl, 'GET', '/docs-json');
    expect(served.status).toBe(200);
    document = served.json<OpenAPIObject>();
  });
  afterAll(() => sample?.close());

  it('validates as OpenAPI 3', async () => {
    await expectValidOpenApi3(document);
  });

  it('serves Swagger UI at /docs, and every script and stylesheet the page loads', async () => {
    const ui = await request(sample.baseUrl, 'GET', '/docs');
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
    expect(ui.text).toContain('swagger-ui');
    const assets = [...ui.text.matchAll(/<(?:script|link)[^>]*(?:src|href)="([^"]+)"/g)].map(
      (match) => new URL(match[1] as string, `${sample.baseUrl}/docs`),
    );
    expect(assets.some((asset) => asset.pathname.endsWith('swagger-ui-bundle.js'))).toBe(true);
    expect(assets.some((asset) => asset.pathname.endsWith('.css'))).toBe(true);
    for (const asset of assets) {
      const loaded = await request(sample.baseUrl, 'GET', `${asset.pathname}${asset.search}`);
      expect(loaded.status, asset.pathname).toBe(200);
    }
  });

  it('has the ProblemDetails schema and the header components', () => {
    expect(document.components?.schemas?.ProblemDetails).toMatchObject({
      type: 'object',
      required: ['type', 'title', 'status', 'detail'],
    });
    expect(Object.keys(document.components?.headers ?? {}).sort()).toEqual([
      'Idempotent-Replayed',
      'RateLimit',
      'RateLimit-Policy',
      'Retry-After',
    ]);
  });

  it.each(['/orders', '/payments'])(
    'POST %s: the required key header, 400/409/422/503 problems, Idempotent-Replayed',
    (path) => {
      const op = operation(document, path, 'post');
      expect(keyHeader(op)).toMatchObject({ required: true, schema: { maxLength: 255 } });
      for (const status of IDEMPOTENCY_PROBLEMS) expectProblem(op, status);
      expect(headersOf(op, '409')).toEqual(['Retry-After']);
      expect(headersOf(op, '503')).toEqual(['Retry-After']);
      expect(headersOf(op, '201')).toEqual(['Idempotent-Replayed']);
      expect(op.responses?.['429']).toBeUndefined();
    },
  );

  it('POST /reports (fingerprint): no key header, no 422, replays marked', () => {
    const op = operation(document, '/reports', 'post');
    expect(keyHeader(op)).toBeUndefined();
    for (const status of ['400', '409', '503']) expectProblem(op, status);
    expect(op.responses?.['422']).toBeUndefined();
    expect(headersOf(op, '201')).toEqual(['Idempotent-Replayed']);
  });

  it('POST /commands (lock on the fingerprint): no key header, 409 with Retry-After, no replays', () => {
    const op = operation(document, '/commands', 'post');
    expect(keyHeader(op)).toBeUndefined();
    expectProblem(op, '409');
    expect(headersOf(op, '409')).toEqual(['Retry-After']);
    expect(op.responses?.['422']).toBeUndefined();
    expect(headersOf(op, '202')).toEqual([]);
  });

  it.each(['/quotes', '/search'])(
    'GET %s: 429 with Retry-After and the RateLimit headers, which every 200 carries too',
    (path) => {
      const op = operation(document, path, 'get');
      expectProblem(op, '429');
      expect(headersOf(op, '429')).toEqual(['RateLimit', 'RateLimit-Policy', 'Retry-After']);
      expect(headersOf(op, '200')).toEqual(['RateLimit', 'RateLimit-Policy']);
      // Their limits let requests through while the store is down: no 503, no key header.
      expect(op.responses?.['503']).toBeUndefined();
      expect(keyHeader(op)).toBeUndefined();
    },
  );

  it.each(['/orders', '/payments', '/reports', '/commands', '/health'])(
    'GET %s, unprotected, has nothing of Tollgate',
    (path) => {
      expectUntouched(operation(document, path, 'get'));
    },
  );
});

// An app protected only globally: the interceptor as APP_INTERCEPTOR, the guard through
// useGlobalGuards, and limits from the module's defaults.
@Controller('items')
class ItemsController {
  @Post()
  create(@Body() body: unknown) {
    return body;
  }

  @Get()
  list() {
    return [];
  }

  @Post('import')
  @SkipIdempotency()
  @SkipThrottle()
  @ApiExtension('x-owner', { team: 'imports' })
  import() {
    return {};
  }

  @Post('custom')
  @Idempotent({ headerName: 'X-Request-Id', onStoreUnavailable: 'allow' })
  @Throttle({ default: { limit: 2 } })
  @ApiHeader({ name: 'X-Request-Id', description: 'Our own words' })
  @ApiResponse({ status: 409, description: 'Already running' })
  custom() {
    return {};
  }
}

@Module({
  imports: [
    TollgateModule.forRoot({
      throttle: {
        limits: { default: { limit: 10, ttl: '1m', onStoreUnavailable: 'reject' } },
        headers: 'when-limited',
      },
    }),
  ],
  controllers: [ItemsController],
  providers: [{ provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor }],
})
class GlobalModule {}

describe.each(NEST_PLATFORMS)('a globally protected app (Nest on %s)', (platform) => {
  let app: INestApplication;
  let document: OpenAPIObject;
  beforeAll(async () => {
    app = await createNestApp(GlobalModule, platform);
    app.setGlobalPrefix('api');
    app.useGlobalGuards(app.get(ThrottleGuard));
    document = createTollgateDocument(app, new DocumentBuilder().setTitle('global').build());
  });
  afterAll(() => app?.close());

  it('validates as OpenAPI 3', async () => {
    await expectValidOpenApi3(document);
  });

  it('documents an undecorated POST: optional key, the problems of both, 503 from either', () => {
    const op = operation(document, '/api/items', 'post');
    expect(keyHeader(op)).toMatchObject({ required: false });
    for (const status of [...IDEMPOTENCY_PROBLEMS, '429']) expectProblem(op, status);
    expect(response(op, '503').description).toMatch(/Duplicate protection.*Rate limiting/);
    // `headers: 'when-limited'`: the RateLimit headers on the 429 only.
    expect(headersOf(op, '201')).toEqual(['Idempotent-Replayed']);
    expect(headersOf(op, '429')).toEqual(['RateLimit', 'RateLimit-Policy', 'Retry-After']);
  });

  it('documents an undecorated GET as throttled only (the interceptor protects unsafe methods)', () => {
    const op = operation(document, '/api/items', 'get');
    expect(keyHeader(op)).toBeUndefined();
    expectProblem(op, '429');
    expect(op.responses?.['409']).toBeUndefined();
    expect(headersOf(op, '200')).toEqual([]);
  });

  it('leaves a route skipped by both alone, with its own extensions', () => {
    const op = operation(document, '/api/items/import', 'post');
    expectUntouched(op);
    expect((op as unknown as Record<string, unknown>)['x-owner']).toEqual({ team: 'imports' });
  });

  it("completes what the app documented itself, and follows the route's own options", () => {
    const op = operation(document, '/api/items/custom', 'post');
    const headers = (op.parameters ?? []).filter(
      (parameter) => !('$ref' in parameter) && parameter.name === 'X-Request-Id',
    );
    expect(headers).toEqual([expect.objectContaining({ description: 'Our own words' })]);
    expect(keyHeader(op)).toBeUndefined();
    expect(response(op, '409').description).toBe('Already running');
    expectProblem(op, '409');
    expect(headersOf(op, '409')).toEqual(['Retry-After']);
    // onStoreUnavailable: 'allow' for duplicates; the module's limit still rejects: one 503.
    expect(response(op, '503').description).toMatch(/^Rate limiting/);
  });

  it("puts the handlers' metadata back, so a second document is the same", () => {
    const handler = ItemsController.prototype.import;
    expect(Reflect.getMetadata(DECORATORS.API_EXTENSION, handler)).toEqual({
      'x-owner': { team: 'imports' },
    });
    expect(
      Reflect.getOwnMetadata(DECORATORS.API_EXTENSION, ItemsController.prototype.create),
    ).toBeUndefined();
    const again = createTollgateDocument(app, new DocumentBuilder().setTitle('global').build());
    expect(again).toEqual(document);
  });
});

@Controller('plain')
class PlainController {
  @Get()
  get() {
    return {};
  }
}

@Module({ controllers: [PlainController] })
class WithoutTollgate {}

describe('createTollgateDocument without TollgateModule', () => {
  it('says what to add', async () => {
    const app = await NestFactory.create(WithoutTollgate, { logger: false });
    try {
      expect(() => createTollgateDocument(app, new DocumentBuilder().build())).toThrow(
        TollgateConfigError,
      );
      expect(() => createTollgateDocument(app, new DocumentBuilder().build())).toThrow(
        /TOLLGATE_MODULE_MISSING/,
      );
    } finally {
      await app.close();
    }
  });
});

describe('documentTollgateRoute (Express)', () => {
  const store = new MemoryStore();
  afterAll(() => store.close());
  const skeleton = (): OpenAPIObject & { paths: Record<string, Record<string, unknown>> } => ({
    openapi: '3.0.0',
    info: { title: 'express', version: '1' },
    paths: {},
  });

  it('creates the operation when the document lacks it, and validates', async () => {
    const document = skeleton();
    documentTollgateRoute(
      document,
      'PUT',
      '/items/{id}',
      throttle({ store, limits: { default: { limit: 1, ttl: '1s' } } }),
      idempotent({ store, required: false, headerName: 'X-Key' }),
    );
    const op = operation(document, '/items/{id}', 'put');
    expect(keyHeader(op, 'X-Key')).toMatchObject({ required: false });
    for (const status of [...IDEMPOTENCY_PROBLEMS, '429']) expectProblem(op, status);
    await expectValidOpenApi3(document);
  });

  it('leaves a method the middleware does not protect alone (idempotent() protects unsafe methods)', () => {
    const document = skeleton();
    documentTollgateRoute(document, 'get', '/items', idempotent({ store }));
    expectUntouched(operation(document, '/items', 'get'));
    expect(document.components).toBeUndefined();
  });

  it('refuses anything but the middleware idempotent() and throttle() returned', () => {
    expect(() => documentTollgateRoute(skeleton(), 'post', '/items', () => undefined)).toThrow(
      /TOLLGATE_NOT_TOLLGATE_MIDDLEWARE/,
    );
  });
});
