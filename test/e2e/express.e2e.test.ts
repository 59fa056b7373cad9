import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';

import express, { type ErrorRequestHandler, type Request } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  idempotent,
  type ExpressRequestLike,
  type IdempotentMiddlewareOptions,
} from '../../src/express.js';
import type { TollgateStore } from '../../src/index.js';
import { request, type HttpResult } from '../helpers/http.js';
import { serveExpressApp, type ServedExpressApp } from '../helpers/express-server.js';
import type { RedisServer } from '../helpers/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A purpose-built Express 5 app: one route per way a response can end, so each is shown to be
 * captured, replayed or released as the contract says. Handler runs are counted per route.
 */
function buildApp(store: TollgateStore): { app: express.Express; runs: Map<string, number> } {
  const runs = new Map<string, number>();
  const ran = (name: string): number => {
    const n = (runs.get(name) ?? 0) + 1;
    runs.set(name, n);
    return n;
  };
  const protect = <Req extends ExpressRequestLike = ExpressRequestLike>(
    options: Omit<IdempotentMiddlewareOptions<Req>, 'store'> = {},
  ) => idempotent<Req>({ store, onEvent: () => undefined, ...options });

  const app = express();
  // As production apps often do: then a header given to res.writeHead() is the only one a response
  // has, and Node keeps no copy of it that res.getHeaders() could read.
  app.disable('x-powered-by');
  app.use(express.json());

  app.post('/json', protect(), (req, res) => {
    res.status(201).json({ run: ran('json'), echo: req.body as unknown });
  });
  app.post('/buffer', protect(), (_req, res) => {
    ran('buffer');
    res.type('application/octet-stream').send(Buffer.from([0, 1, 2, 0xfe, 0xff]));
  });
  app.post('/write-head', protect(), (_req, res) => {
    ran('write-head');
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=latin1', ETag: '"v1"' });
    res.end('ended raw');
  });
  app.post('/gzip', gzipLikeCompression(), protect(), (_req, res) => {
    ran('gzip');
    res.type('text/plain').send(`${'compressible '.repeat(200)}\u00e9\u{1F600}`);
  });
  app.post('/bad-chunk', protect(), (_req, res) => {
    ran('bad-chunk');
    // Node refuses a chunk other than a string, Buffer or Uint8Array: end() throws, nothing is sent.
    (res.end as (chunk: unknown) => void)(new Uint16Array([1, 2]));
  });
  app.post('/bad-encoding', protect(), (_req, res) => {
    ran('bad-encoding');
    res.end('body', 'no-such-encoding' as BufferEncoding);
  });
  app.post('/no-content', protect(), (_req, res) => {
    ran('no-content');
    res.sendStatus(204);
  });
  app.post('/redirect', protect(), (_req, res) => {
    ran('redirect');
    res.redirect(303, '/elsewhere');
  });
  app.post('/stream', protect(), async (_req, res) => {
    ran('stream');
    res.type('text/plain');
    res.write('one,');
    await sleep(20);
    res.write('two,');
    res.end('three');
  });
  app.post('/pipe', protect(), (_req, res) => {
    ran('pipe');
    res.type('text/plain');
    Readable.from(['a', 'b', 'c']).pipe(res);
  });
  app.post('/large', protect({ maxResponseBytes: 16 }), (_req, res) => {
    ran('large');
    res.type('text/plain').send('x'.repeat(64));
  });
  app.post('/client-error', protect(), (_req, _res, next) => {
    ran('client-error');
    next(Object.assign(new Error('I am a teapot'), { status: 418 }));
  });
  app.post('/server-error', protect(), (_req, _res, next) => {
    ran('server-error');
    next(new Error('boom'));
  });
  app.post('/async-throw', protect(), async () => {
    ran('async-throw');
    await sleep(1);
    throw new Error('async boom');
  });
  app.post('/default-handler', protect(), (_req, _res, next) => {
    ran('default-handler');
    next(Object.assign(new Error('to finalhandler'), { useDefault: true }));
  });
  app.post('/destroy', protect(), (_req, res) => {
    ran('destroy');
    res.destroy();
  });
  app.post('/destroy-mid-body', protect(), (_req, res) => {
    ran('destroy-mid-body');
    res.write('partial');
    setTimeout(() => res.destroy(), 10);
  });
  app.post('/slow', protect(), async (_req, res) => {
    const run = ran('slow');
    await sleep(300);
    res.status(201).json({ run });
  });
  // The authenticated user as a JWT strategy might leave it, from a test header.
  const asUser = (req: Request, _res: unknown, next: () => void): void => {
    const user = req.get('x-user');
    if (user !== undefined) (req as Request & { user?: unknown }).user = JSON.parse(user);
    next();
  };
  app.post('/report', asUser, protect({ strategy: 'fingerprint', window: '5s' }), (req, res) => {
    res
      .status(201)
      .json({ run: ran('report'), for: (req as Request & { user?: unknown }).user ?? null });
  });
  app.post(
    '/report-behind-proxy',
    protect({ strategy: 'fingerprint', window: '5s', trustProxy: 1 }),
    (_req, res) => {
      res.status(201).json({ run: ran('report-behind-proxy') });
    },
  );
  app.post('/outlives-lease', protect({ lease: '600ms' }), async (_req, res) => {
    const run = ran('outlives-lease');
    // Answers long after its client left, and after two leases: renewed all along.
    await sleep(1_500);
    res.status(201).json({ run });
  });
  app.post('/stream-slowly', protect(), async (_req, res) => {
    ran('stream-slowly');
    res.status(200).setHeader('content-type', 'text/plain');
    res.write('first part\n');
    await sleep(300);
    res.write('second part\n');
    res.end();
  });
  app.post(
    '/tenant',
    protect({ scope: (req: Request) => req.get('x-tenant') ?? undefined }),
    (_req, res) => {
      res.json({ run: ran('tenant') });
    },
  );
  app.post(
    '/bad-scope',
    protect({
      scope: () => {
        throw new Error('the scope resolver failed');
      },
    }),
    (_req, res) => {
      res.json({ run: ran('bad-scope') });
    },
  );
  app.post('/shared-a', protect({ route: 'shared' }), (_req, res) => {
    res.json({ route: 'a', run: ran('shared') });
  });
  app.post('/shared-b', protect({ route: () => 'shared' }), (_req, res) => {
    res.json({ route: 'b', run: ran('shared') });
  });
  app.post('/allow', protect({ onStoreUnavailable: 'allow', storeTimeout: '300ms' }), (_, res) => {
    res.status(201).json({ run: ran('allow') });
  });

  // Mounted for a whole path: safe methods pass, unsafe ones need a key, and the concrete path
  // stands in for the route template.
  app.use('/mounted', protect());
  app.get('/mounted/items/:id', (_req, res) => {
    res.json({ run: ran('mounted-get') });
  });
  app.post('/mounted/items/:id', (req, res) => {
    res.status(201).json({ id: req.params.id, run: ran('mounted-post') });
  });
  // Registered twice (app-wide and on the route): still one protection, one run.
  app.post('/mounted/twice', protect(), (_req, res) => {
    res.status(201).json({ run: ran('twice') });
  });

  const problems: ErrorRequestHandler = (error: Error & { status?: number }, _req, res, next) => {
    if (res.headersSent || (error as { useDefault?: boolean }).useDefault) {
      next(error);
      return;
    }
    const status = error.status ?? 500;
    res.status(status).json({ error: status < 500 ? error.message : 'internal' });
  };
  app.use(problems);
  return { app, runs };
}

describe.each(['memory', 'redis'] as const)('idempotent() on Express 5, %s store', (storeKind) => {
  let served: ServedExpressApp | undefined;
  let redis: RedisServer | undefined;
  let baseUrl: string;
  let runs: Map<string, number>;

  beforeAll(async () => {
    served = await serveExpressApp(storeKind, buildApp);
    ({ redis, baseUrl, runs } = served);
  });

  afterAll(async () => {
    await served?.close();
  });

  const post = (
    path: string,
    key: string | undefined,
    body: unknown = { a: 1 },
    headers: Record<string, string> = {},
  ): Promise<HttpResult> =>
    request(baseUrl, 'POST', path, {
      body,
      headers: { ...headers, ...(key === undefined ? {} : { 'idempotency-key': key }) },
    });
  const runsOf = (name: string): number => runs.get(name) ?? 0;

  /** Sends a request twice with one key: the first response and the duplicate's. */
  const twice = async (path: string, body?: unknown): Promise<[HttpResult, HttpResult]> => {
    const key = randomUUID();
    const first = await post(path, key, body);
    const second = await post(path, key, body);
    return [first, second];
  };

  const bytesOf = async (path: string, key: string): Promise<Response> =>
    fetch(baseUrl + path, { method: 'POST', headers: { 'idempotency-key': key } });

  describe('captures and replays every way Express ends a response', () => {
    it('res.json: same status and body bytes, marked replayed only on the replay', async () => {
      const before = runsOf('json');
      const [first, replay] = await twice('/json', { b: [1, 2], a: 'x' });
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      expect(replay.status).toBe(201);
      expect(replay.text).toBe(first.text);
      expect(replay.headers.get('content-type')).toBe(first.headers.get('content-type'));
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(runsOf('json')).toBe(before + 1);
    });

    it('res.send(Buffer): the exact bytes, including ones that are not UTF-8', async () => {
      const key = randomUUID();
      const first = Buffer.from(await (await bytesOf('/buffer', key)).arrayBuffer());
      const replayed = await bytesOf('/buffer', key);
      expect(replayed.headers.get('idempotent-replayed')).toBe('true');
      expect(replayed.headers.get('content-type')).toBe('application/octet-stream');
      expect(Buffer.from(await replayed.arrayBuffer())).toEqual(first);
      expect([...first]).toEqual([0, 1, 2, 0xfe, 0xff]);
      expect(runsOf('buffer')).toBe(1);
    });

    it('res.writeHead + res.end: the headers given to writeHead are replayed', async () => {
      const [first, replay] = await twice('/write-head');
      expect(first.text).toBe('ended raw');
      expect(replay.text).toBe('ended raw');
      expect(replay.headers.get('content-type')).toBe('text/plain; charset=latin1');
      expect(replay.headers.get('etag')).toBe('"v1"');
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
    });

    it('behind a compression layer: stores the body the handler wrote, and replays it', async () => {
      const key = randomUUID();
      const send = (encoding: string): Promise<Response> =>
        fetch(`${baseUrl}/gzip`, {
          method: 'POST',
          headers: { 'idempotency-key': key, 'accept-encoding': encoding },
        });
      const first = await send('gzip');
      const firstText = await first.text();
      expect(first.headers.get('content-encoding')).toBe('gzip');
      const replay = await send('gzip');
      expect(replay.status).toBe(200);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.headers.get('content-encoding')).toBe('gzip');
      expect(replay.headers.get('content-type')).toBe(first.headers.get('content-type'));
      expect(await replay.text()).toBe(firstText);
      // A client that cannot decode gzip is given the same body, not compressed.
      const plain = await send('identity');
      expect(plain.headers.get('idempotent-replayed')).toBe('true');
      expect(plain.headers.get('content-encoding')).toBeNull();
      expect(await plain.text()).toBe(firstText);
      expect(runsOf('gzip')).toBe(1);
    });

    it('res.end() that throws on a chunk Node refuses: the 500 the client got is what counts, so a retry runs again', async () => {
      const before = runsOf('bad-chunk');
      const [first, retry] = await twice('/bad-chunk');
      expect(first.status).toBe(500);
      expect(retry.status).toBe(500);
      expect(retry.headers.get('idempotent-replayed')).toBeNull();
      expect(runsOf('bad-chunk')).toBe(before + 2);
    });

    it('res.end() that throws on an encoding Node does not know, after the head went out: never left in progress', async () => {
      const key = randomUUID();
      // Node writes the head, then throws: the client gets a cut-off response.
      await post('/bad-encoding', key).catch(() => undefined);
      // Not `request-in-progress`, which it would stay for as long as the process runs.
      await expect
        .poll(async () => (await post('/bad-encoding', key)).json().type, { timeout: 2_000 })
        .toMatch(/response-not-replayable\.md$/);
      expect(runsOf('bad-encoding')).toBe(1);
    });

    it('res.sendStatus(204): replays as 204 with an empty body', async () => {
      const before = runsOf('no-content');
      const [first, replay] = await twice('/no-content');
      expect(first.status).toBe(204);
      expect(replay.status).toBe(204);
      expect(replay.text).toBe('');
      expect(replay.headers.get('content-length')).toBeNull();
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(runsOf('no-content')).toBe(before + 1);
    });

    it('res.redirect: replays the status and Location', async () => {
      const key = randomUUID();
      const options = { method: 'POST', redirect: 'manual', headers: { 'idempotency-key': key } };
      const first = await fetch(`${baseUrl}/redirect`, options as RequestInit);
      const replay = await fetch(`${baseUrl}/redirect`, options as RequestInit);
      expect(first.status).toBe(303);
      expect(replay.status).toBe(303);
      expect(replay.headers.get('location')).toBe('/elsewhere');
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(runsOf('redirect')).toBe(1);
    });

    it('next(err) rendered as a 4xx by the error handler: stored and replayed', async () => {
      const before = runsOf('client-error');
      const [first, replay] = await twice('/client-error');
      expect(first.status).toBe(418);
      expect(first.json()).toEqual({ error: 'I am a teapot' });
      expect(replay.status).toBe(418);
      expect(replay.text).toBe(first.text);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(runsOf('client-error')).toBe(before + 1);
    });

    it.each([
      ['next(err) rendered as a 500 by the app', '/server-error', 'server-error'],
      ['an async handler that rejects (Express 5)', '/async-throw', 'async-throw'],
      ["next(err) left to Express's default handler", '/default-handler', 'default-handler'],
    ])('%s: releases the key, so a retry runs again', async (_, path, name) => {
      const before = runsOf(name);
      const [first, retry] = await twice(path);
      expect(first.status).toBe(500);
      expect(retry.status).toBe(500);
      expect(retry.headers.get('idempotent-replayed')).toBeNull();
      expect(runsOf(name)).toBe(before + 2);
    });
  });

  describe('responses that cannot be replayed', () => {
    it.each([
      ['res.write before res.end', '/stream', 'stream', 'one,two,three'],
      ['a Readable piped into the response', '/pipe', 'pipe', 'abc'],
    ])(
      '%s passes through untouched; a duplicate gets 409 response-not-replayable',
      async (_, path, name, body) => {
        const before = runsOf(name);
        const [first, duplicate] = await twice(path);
        expect(first.status).toBe(200);
        expect(first.text).toBe(body);
        expect(duplicate.status).toBe(409);
        expect(duplicate.headers.get('content-type')).toBe('application/problem+json');
        expect(duplicate.json()).toMatchObject({
          status: 409,
          type: expect.stringMatching(/\/response-not-replayable\.md$/),
          reason: 'streamed',
        });
        expect(runsOf(name)).toBe(before + 1);
      },
    );

    it('a body over maxResponseBytes passes through; a duplicate gets 409 too-large', async () => {
      const [first, duplicate] = await twice('/large');
      expect(first.text).toBe('x'.repeat(64));
      expect(duplicate.status).toBe(409);
      expect(duplicate.json()).toMatchObject({ reason: 'too-large' });
      expect(runsOf('large')).toBe(1);
    });
  });

  describe('responses that end without res.end()', () => {
    it('res.destroy() before any byte: the key is released at once, so a retry runs again', async () => {
      const key = randomUUID();
      const attempt = (): Promise<unknown> => post('/destroy', key).catch(() => undefined);
      await attempt();
      expect(runsOf('destroy')).toBe(1);
      // Well within the 30 s lease: the key was released, not left to expire.
      await expect
        .poll(async () => (await attempt(), runsOf('destroy')), { timeout: 2_000 })
        .toBe(2);
    });

    it('res.destroy() after part of the body: the request ran, so a retry is told it cannot be replayed', async () => {
      const key = randomUUID();
      await post('/destroy-mid-body', key).catch(() => undefined);
      expect(runsOf('destroy-mid-body')).toBe(1);
      await expect
        .poll(async () => (await post('/destroy-mid-body', key).catch(() => undefined))?.status, {
          timeout: 2_000,
        })
        .toBe(409);
      const retry = await post('/destroy-mid-body', key);
      expect(retry.json()).toMatchObject({
        type: expect.stringMatching(/response-not-replayable\.md$/),
      });
      expect(runsOf('destroy-mid-body')).toBe(1);
    });

    it('a client that leaves mid-stream: the key is kept, a retry is told it cannot be replayed', async () => {
      const key = randomUUID();
      await new Promise<void>((resolve) => {
        const req = httpRequest(`${baseUrl}/stream-slowly`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
        });
        req.on('error', () => resolve());
        // Leaves as soon as the first part of the body arrives.
        req.on('response', (response) => response.once('data', () => (req.destroy(), resolve())));
        req.end('{"a":1}');
      });
      await sleep(500);
      const retry = await post('/stream-slowly', key);
      expect(retry.status).toBe(409);
      expect(retry.json()).toMatchObject({
        type: expect.stringMatching(/response-not-replayable\.md$/),
      });
      expect(runsOf('stream-slowly')).toBe(1);
    });

    it('a client that disconnects mid-handler: the result is still stored and replayed', async () => {
      const key = randomUUID();
      await disconnectAfter(`${baseUrl}/slow`, key, 80);
      // The handler finishes after the client left; its response is stored all the same.
      await sleep(400);
      const retry = await post('/slow', key);
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(runsOf('slow')).toBe(1);
    });

    it('a client that left a handler slower than its lease: the key is kept until the handler answers', async () => {
      const key = randomUUID();
      await disconnectAfter(`${baseUrl}/outlives-lease`, key, 50);
      // Past one lease (600 ms) the handler still runs: a retry must not run it again.
      await sleep(900);
      const meanwhile = await post('/outlives-lease', key);
      expect(meanwhile.status).toBe(409);
      expect(meanwhile.json()).toMatchObject({
        type: expect.stringMatching(/request-in-progress\.md$/),
      });
      await sleep(900);
      const retry = await post('/outlives-lease', key);
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(runsOf('outlives-lease')).toBe(1);
    });
  });

  describe('who is asking', () => {
    const report = (user: unknown, body = '{"reading":1}') =>
      request(baseUrl, 'POST', '/report', {
        rawBody: body,
        headers: {
          'content-type': 'application/json',
          ...(user === undefined ? {} : { 'x-user': JSON.stringify(user) }),
        },
      });

    it("never replays one user's result to another: users identified by userId", async () => {
      const body = JSON.stringify({ reading: randomUUID() });
      const alice = await report({ userId: 'alice', username: 'alice' }, body);
      const bob = await report({ userId: 'bob', username: 'bob' }, body);
      expect(alice.status).toBe(201);
      expect(bob.status).toBe(201);
      expect(bob.headers.get('idempotent-replayed')).toBeNull();
      expect(bob.json().for).toEqual({ userId: 'bob', username: 'bob' });
      const aliceAgain = await report({ userId: 'alice', username: 'alice' }, body);
      expect(aliceAgain.headers.get('idempotent-replayed')).toBe('true');
      expect(aliceAgain.text).toBe(alice.text);
    });

    it('refuses a user object it cannot identify with a problem naming the scope option', async () => {
      const body = JSON.stringify({ reading: randomUUID() });
      const before = runsOf('report');
      const carol = await report({ username: 'carol' }, body);
      const dave = await report({ username: 'dave' }, body);
      for (const response of [carol, dave]) {
        expect(response.status).toBe(500);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(response.json()).toMatchObject({
          type: expect.stringMatching(/scope-unresolved\.md$/),
          detail: expect.stringContaining('`scope` option'),
        });
      }
      expect(runsOf('report')).toBe(before);
    });

    it('scopes anonymous fingerprint requests by client address', async () => {
      const body = JSON.stringify({ reading: randomUUID() });
      const send = (address: string) =>
        request(baseUrl, 'POST', '/report-behind-proxy', {
          rawBody: body,
          headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        });
      const first = await send('203.0.113.1');
      const other = await send('203.0.113.2');
      const again = await send('203.0.113.1');
      expect(other.headers.get('idempotent-replayed')).toBeNull();
      expect(other.json().run).not.toBe(first.json().run);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
    });
  });

  describe('request description', () => {
    it('scopes keys with the scope option: two tenants, one key, two runs', async () => {
      const key = randomUUID();
      const a = await post('/tenant', key, undefined, { 'x-tenant': 'a' });
      const b = await post('/tenant', key, undefined, { 'x-tenant': 'b' });
      const a2 = await post('/tenant', key, undefined, { 'x-tenant': 'a' });
      expect(b.json().run).not.toBe(a.json().run);
      expect(a2.text).toBe(a.text);
      expect(a2.headers.get('idempotent-replayed')).toBe('true');
    });

    it('uses the route option as the route: two paths named alike share their keys', async () => {
      const key = randomUUID();
      const a = await post('/shared-a', key);
      const b = await post('/shared-b', key);
      expect(b.headers.get('idempotent-replayed')).toBe('true');
      expect(b.text).toBe(a.text);
    });

    it('mounted with app.use: safe methods pass without a key, unsafe ones need one', async () => {
      expect((await request(baseUrl, 'GET', '/mounted/items/1')).status).toBe(200);
      const missing = await post('/mounted/items/1', undefined);
      expect(missing.status).toBe(400);
      expect(missing.json()).toMatchObject({
        type: expect.stringMatching(/\/idempotency-key-missing\.md$/),
      });
    });

    it('mounted with app.use: keys are per concrete path, since no route is matched yet', async () => {
      const key = randomUUID();
      const one = await post('/mounted/items/1', key);
      const two = await post('/mounted/items/2', key);
      expect(one.status).toBe(201);
      expect(two.status).toBe(201);
      expect(two.headers.get('idempotent-replayed')).toBeNull();
      expect((await post('/mounted/items/1', key)).text).toBe(one.text);
    });

    it('registered app-wide and on the route: protects once, runs once', async () => {
      const [first, replay] = await twice('/mounted/twice');
      expect(first.status).toBe(201);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(runsOf('twice')).toBe(1);
    });

    it('a scope resolver that throws goes to the error handler, and the app keeps serving', async () => {
      const response = await post('/bad-scope', randomUUID());
      expect(response.status).toBe(500);
      expect(runsOf('bad-scope')).toBe(0);
      expect((await post('/json', randomUUID())).status).toBe(201);
    });

    it.each([
      ['a __proto__ key', '{"__proto__":{"polluted":true},"a":1}'],
      ['a constructor key', '{"constructor":{"prototype":{"x":1}}}'],
      ['a toJSON field', '{"toJSON":"not a function","a":[1,{"b":null}]}'],
      ['deep nesting', `${'['.repeat(200)}${']'.repeat(200)}`],
      ['a huge number', '{"n":1e400}'],
    ])(
      'survives a hostile body with %s, and replays or refuses it consistently',
      async (_, raw) => {
        const key = randomUUID();
        const send = (): Promise<HttpResult> =>
          request(baseUrl, 'POST', '/json', {
            rawBody: raw,
            headers: { 'content-type': 'application/json', 'idempotency-key': key },
          });
        const first = await send();
        const second = await send();
        expect([201, 400]).toContain(first.status);
        expect(second.status).toBe(first.status);
        if (first.status === 201) expect(second.headers.get('idempotent-replayed')).toBe('true');
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect((await request(baseUrl, 'GET', '/mounted/items/1')).status).toBe(200);
      },
    );

    it('answers duplicate Idempotency-Key headers with a 400', async () => {
      const response = await fetch(`${baseUrl}/json`, {
        method: 'POST',
        headers: [
          ['idempotency-key', 'one'],
          ['idempotency-key', 'two'],
        ],
      });
      expect(response.status).toBe(400);
    });

    it('answers an Idempotency-Key header sent twice, once empty, with a 400', async () => {
      // Node.js joins the two lines as "<key>, ", which trims to "<key>,".
      const before = runsOf('json');
      const { port } = new URL(baseUrl);
      const head = await new Promise<string>((resolve, reject) => {
        // Written, not ended: the server answers, then closes the connection.
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.write(
            'POST /json HTTP/1.1\r\nHost: localhost\r\n' +
              `Idempotency-Key: ${randomUUID()}\r\nIdempotency-Key:\r\n` +
              'Content-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n' +
              '{"a":1}',
          );
        });
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
        socket.on('end', () => resolve(received));
        socket.on('error', reject);
      });
      expect(head).toMatch(/^HTTP\/1\.1 400 /);
      expect(head).toMatch(/\/idempotency-key-invalid\.md/);
      expect(runsOf('json')).toBe(before);
    });
  });

  if (storeKind === 'redis') {
    describe('when Redis does not answer', () => {
      it('rejects with 503 within the deadline, or runs unprotected where the route allows', async () => {
        const server = redis as RedisServer;
        server.pause();
        try {
          const started = Date.now();
          const rejected = await post('/json', randomUUID());
          expect(rejected.status).toBe(503);
          expect(rejected.headers.get('retry-after')).toBe('1');
          expect(rejected.headers.get('content-type')).toBe('application/problem+json');
          expect(Date.now() - started).toBeLessThan(2_500);
          const before = runsOf('allow');
          const allowed = await post('/allow', randomUUID());
          expect(allowed.status).toBe(201);
          expect(runsOf('allow')).toBe(before + 1);
        } finally {
          server.resume();
        }
        await expect
          .poll(async () => (await post('/json', randomUUID())).status, { timeout: 10_000 })
          .toBe(201);
      });
    });
  }
});

/** Sends a POST with a key, then drops the connection before the answer: a client that gave up. */
function disconnectAfter(url: string, key: string, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const req = httpRequest(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
    });
    req.on('error', () => resolve());
    req.on('response', () => resolve());
    req.end('{"a":1}');
    setTimeout(() => {
      req.destroy();
      resolve();
    }, ms);
  });
}

/**
 * What the `compression` middleware does: own `res.write` and `res.end` that feed a gzip stream,
 * whose output goes out through the `write` and `end` it found (the prototype's). Small bodies,
 * and clients that do not accept gzip, go out as they are.
 */
function gzipLikeCompression(threshold = 1024): express.RequestHandler {
  return (req, res, next) => {
    const write = res.write as (this: unknown, ...args: unknown[]) => boolean;
    const end = res.end as (this: unknown, ...args: unknown[]) => unknown;
    let gzip: ReturnType<typeof createGzip> | undefined;
    let ended = false;
    const accepts = /\bgzip\b/.test(req.get('accept-encoding') ?? '');
    const toBuffer = (chunk: unknown, encoding: unknown): Buffer =>
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, encoding as BufferEncoding);
    const start = (): ReturnType<typeof createGzip> => {
      res.setHeader('Content-Encoding', 'gzip');
      res.removeHeader('Content-Length');
      const stream = createGzip();
      stream.on('data', (chunk: Buffer) => write.call(res, chunk));
      stream.on('end', () => end.call(res));
      return stream;
    };
    res.write = function (this: unknown, chunk: unknown, encoding?: unknown) {
      if (ended) return false;
      if (!accepts) return write.call(this, chunk, encoding);
      gzip ??= start();
      return gzip.write(toBuffer(chunk, encoding));
    } as typeof res.write;
    res.end = function (this: unknown, chunk?: unknown, encoding?: unknown) {
      if (ended) return this;
      const size = chunk
        ? toBuffer(chunk, typeof encoding === 'string' ? encoding : 'utf8').length
        : 0;
      if (gzip === undefined && (!accepts || size < threshold)) {
        return end.call(this, chunk, encoding);
      }
      gzip ??= start();
      ended = true;
      if (chunk) gzip.end(toBuffer(chunk, typeof encoding === 'string' ? encoding : 'utf8'));
      else gzip.end();
      return this;
    } as typeof res.end;
    next();
  };
}
