/**
 * Every retry rule of tollgate/client, deterministic: a scripted `fetch`, a `sleep` that records
 * the waits and returns at once, a fixed `random` and a fake clock.
 */
import { describe, expect, expectTypeOf, it, vi } from 'vitest';

import {
  createIdempotentFetch,
  idempotentFetch,
  IdempotentFetchError,
  newIdempotencyKey,
  type AttemptReport,
  type FetchLike,
  type IdempotentRequestInit,
  type IdempotentResult,
} from '../../src/client.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const PROBLEM = 'https://unpkg.com/tollgate/docs/problems/';

type Step = Response | Error | (() => Response | Promise<Response>);

interface Sent {
  url: string;
  method: string;
  key: string | null;
  headers: Headers;
  body: string;
  signal: AbortSignal | undefined;
}

/** A fetch that answers with `steps` in order, and records every request it was sent. */
function script(...steps: Step[]) {
  const sent: Sent[] = [];
  const fetch = vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
    const request = new Request(input, init);
    sent.push({
      url: request.url,
      method: request.method,
      key: request.headers.get('idempotency-key'),
      headers: request.headers,
      body: await request.text(),
      signal: init?.signal ?? undefined,
    });
    const step = steps.shift();
    if (step === undefined) throw new Error('the script has no more steps');
    if (step instanceof Error) throw step;
    return typeof step === 'function' ? step() : step;
  });
  return { fetch, sent };
}

/** A fake clock that only `sleep` moves: the waits add up exactly. */
function clock(start = Date.UTC(2026, 0, 1)) {
  let time = start;
  const waits: number[] = [];
  return {
    now: () => time,
    waits,
    sleep: async (ms: number, signal: AbortSignal) => {
      signal.throwIfAborted();
      waits.push(ms);
      time += ms;
    },
  };
}

const status = (code: number, headers: Record<string, string> = {}, body: string | null = null) =>
  new Response(body, { status: code, headers });
const problem = (code: number, slug: string, headers: Record<string, string> = {}, extra = {}) =>
  new Response(JSON.stringify({ type: PROBLEM + slug, title: slug, status: code, ...extra }), {
    status: code,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });
const created = (replayed = false) =>
  new Response('{"id":"pay_1"}', {
    status: 201,
    headers: {
      'content-type': 'application/json',
      ...(replayed ? { 'idempotent-replayed': 'true' } : {}),
    },
  });
const networkError = () => new TypeError('fetch failed');

/** idempotentFetch with the scripted fetch, the fake clock and `random` fixed at its top. */
function run(
  steps: Step[],
  init: IdempotentRequestInit = {},
): {
  result: ReturnType<typeof idempotentFetch>;
  sent: Sent[];
  waits: number[];
  reports: AttemptReport[];
} {
  const { fetch, sent } = script(...steps);
  const time = clock();
  const reports: AttemptReport[] = [];
  const result = idempotentFetch('https://api.test/payments', {
    method: 'POST',
    body: '{"amount":25}',
    fetch,
    sleep: time.sleep,
    now: time.now,
    random: () => 0.5,
    onAttempt: (report) => reports.push(report),
    ...init,
  });
  return { result, sent, waits: time.waits, reports };
}

describe('the Idempotency-Key', () => {
  it('is a new UUID v4 per operation, the same on every retry of it', async () => {
    const first = run([networkError(), status(503), created()]);
    const second = run([created()]);
    const [a, b] = [await first.result, await second.result];
    expect(a.key).toMatch(UUID_V4);
    expect(first.sent.map((request) => request.key)).toEqual([a.key, a.key, a.key]);
    expect(b.key).toMatch(UUID_V4);
    expect(b.key).not.toBe(a.key);
  });

  it("is the caller's idempotencyKey when given, else the caller's header", async () => {
    const given = run([status(503), created()], { idempotencyKey: 'checkout-7' });
    expect((await given.result).key).toBe('checkout-7');
    expect(given.sent.map((request) => request.key)).toEqual(['checkout-7', 'checkout-7']);

    const header = run([created()], { headers: { 'Idempotency-Key': 'from-header' } });
    expect((await header.result).key).toBe('from-header');
    expect(header.sent[0]?.key).toBe('from-header');
  });

  it('goes in the header named by headerName, beside the caller’s other headers', async () => {
    const { result, sent } = run([created()], {
      headerName: 'X-Request-Id',
      headers: { authorization: 'Bearer alice', 'content-type': 'application/json' },
    });
    const { key } = await result;
    expect(sent[0]?.headers.get('x-request-id')).toBe(key);
    expect(sent[0]?.headers.get('idempotency-key')).toBeNull();
    expect(sent[0]?.headers.get('authorization')).toBe('Bearer alice');
  });

  it('is built from getRandomValues where crypto.randomUUID is missing (plain-HTTP pages)', () => {
    const randomUUID = globalThis.crypto.randomUUID;
    Object.defineProperty(globalThis.crypto, 'randomUUID', {
      value: undefined,
      configurable: true,
    });
    try {
      const keys = new Set(Array.from({ length: 200 }, () => newIdempotencyKey()));
      expect(keys.size).toBe(200);
      for (const key of keys) expect(key).toMatch(UUID_V4);
    } finally {
      Object.defineProperty(globalThis.crypto, 'randomUUID', {
        value: randomUUID,
        configurable: true,
      });
    }
  });

  it('sends the same body and method on every attempt, a Request input included', async () => {
    const { result, sent } = run([networkError(), created()]);
    await result;
    expect(sent.map(({ method, body }) => [method, body])).toEqual([
      ['POST', '{"amount":25}'],
      ['POST', '{"amount":25}'],
    ]);

    const { fetch, sent: fromRequest } = script(status(503), networkError(), created());
    const time = clock();
    const request = new Request('https://api.test/payments', {
      method: 'POST',
      body: '{"amount":9}',
      headers: { 'x-cart': 'c1' },
    });
    const { key } = await idempotentFetch(request, { fetch, sleep: time.sleep, now: time.now });
    expect(fromRequest.map(({ body, key }) => [body, key])).toEqual([
      ['{"amount":9}', key],
      ['{"amount":9}', key],
      ['{"amount":9}', key],
    ]);
    expect(fromRequest[2]?.headers.get('x-cart')).toBe('c1');
  });

  it('refuses a ReadableStream body, which a retry could not send again', async () => {
    const { fetch } = script(created());
    await expect(
      idempotentFetch('https://api.test/x', {
        method: 'POST',
        body: new ReadableStream(),
        fetch,
      }),
    ).rejects.toThrow(/ReadableStream body/);
    expect(fetch).not.toHaveBeenCalled();
  });
});

describe('what is retried', () => {
  it('retries network failures, then returns the response', async () => {
    const { result, sent } = run([networkError(), networkError(), created()]);
    const { response, attempts } = await result;
    expect(response.status).toBe(201);
    expect(attempts).toBe(3);
    expect(sent).toHaveLength(3);
  });

  it.each([
    ['409 request-in-progress', () => problem(409, 'request-in-progress', { 'retry-after': '1' })],
    [
      '409 with the code TOLLGATE_IN_PROGRESS',
      () => problem(409, 'other', {}, { code: 'TOLLGATE_IN_PROGRESS' }),
    ],
    ['409 request-in-progress of another server', () => problem(409, 'x/request-in-progress')],
    ['429', () => problem(429, 'rate-limited', { 'retry-after': '1' })],
    ['503', () => problem(503, 'store-unavailable', { 'retry-after': '1' })],
    ['503 without a body', () => status(503)],
  ])('retries a %s', async (_, answer) => {
    const { result, sent } = run([answer(), answer(), created()]);
    const { response, attempts } = await result;
    expect([response.status, attempts, sent.length]).toEqual([201, 3, 3]);
  });

  it.each([
    ['400', () => problem(400, 'request-invalid')],
    ['401', () => status(401)],
    ['403', () => status(403)],
    ['404', () => status(404)],
    ['409 idempotency-key-reused', () => problem(409, 'idempotency-key-reused')],
    [
      '409 duplicate-request (the lock strategy: a retry would run again)',
      () => problem(409, 'duplicate-request', { 'retry-after': '1' }),
    ],
    ['409 response-not-replayable', () => problem(409, 'response-not-replayable')],
    ['409 lease-lost', () => problem(409, 'lease-lost', { 'retry-after': '1' })],
    ['409 that is not JSON', () => status(409, { 'content-type': 'text/plain' }, 'conflict')],
    ['422 idempotency-key-reused', () => problem(422, 'idempotency-key-reused')],
    ['500', () => status(500)],
    ['502', () => status(502)],
    ['201', () => created()],
  ])('never retries a %s: returned as it is, body unread', async (_, answer) => {
    const expected = await answer().text();
    const { result, sent, waits, reports } = run([answer(), created()]);
    const { response, attempts } = await result;
    expect(attempts).toBe(1);
    expect(sent).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(await response.text()).toBe(expected);
    expect(reports).toEqual([
      { attempt: 1, key: expect.any(String), status: response.status, replayed: false },
    ]);
  });

  it('returns the last retryable response once maxAttempts are used', async () => {
    const { result, sent } = run([status(503), status(503), status(503), created()], {
      maxAttempts: 3,
    });
    const { response, attempts } = await result;
    expect([response.status, attempts, sent.length]).toEqual([503, 3, 3]);
  });

  it('throws IdempotentFetchError (network, key, attempts, cause) when every attempt failed', async () => {
    const cause = networkError();
    const { result, sent } = run([networkError(), networkError(), cause], { maxAttempts: 3 });
    const error = await result.catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(IdempotentFetchError);
    expect(error).toMatchObject({ reason: 'network', attempts: 3, key: sent[0]?.key, cause });
    expect((error as Error).message).toMatch(/retry it with the same Idempotency-Key/);
  });

  it('tries once with maxAttempts 1', async () => {
    const { result, sent } = run([status(503), created()], { maxAttempts: 1 });
    expect((await result).response.status).toBe(503);
    expect(sent).toHaveLength(1);
  });

  it('cancels the body of every response it does not return', async () => {
    const cancelled: number[] = [];
    const tracked = (code: number) => () => {
      const response = status(code, {}, 'x');
      const cancel = response.body!.cancel.bind(response.body);
      response.body!.cancel = (reason) => (cancelled.push(code), cancel(reason));
      return response;
    };
    const { result } = run([tracked(503), tracked(429), created()]);
    await result;
    expect(cancelled).toEqual([503, 429]);
  });
});

describe('the waits between attempts', () => {
  it('are full jitter over a doubling backoff, capped at maxDelayMs', async () => {
    const failures = Array.from({ length: 7 }, () => networkError());
    const { result, waits } = run([...failures, created()], {
      maxAttempts: 8,
      baseDelayMs: 100,
      maxDelayMs: 1_000,
      random: () => 0.5,
    });
    await result;
    expect(waits).toEqual([50, 100, 200, 400, 500, 500, 500]);
  });

  it('span [0, the cap): random 0 waits nothing, random near 1 nearly the cap', async () => {
    const low = run([networkError(), networkError(), created()], { random: () => 0 });
    await low.result;
    expect(low.waits).toEqual([0, 0]);
    const high = run([networkError(), networkError(), created()], {
      random: () => 0.999,
      baseDelayMs: 1_000,
    });
    await high.result;
    expect(high.waits).toEqual([999, 1_998]);
  });

  it('are never shorter than Retry-After in seconds', async () => {
    const { result, waits } = run(
      [
        problem(409, 'request-in-progress', { 'retry-after': '2' }),
        status(503, { 'retry-after': '0' }),
        created(),
      ],
      { random: () => 0.5, baseDelayMs: 250 },
    );
    await result;
    expect(waits).toEqual([2_000, 250]);
  });

  it('are never shorter than a Retry-After HTTP date, read against now', async () => {
    const time = clock();
    const { fetch } = script(
      status(503, { 'retry-after': new Date(time.now() + 3_000).toUTCString() }),
      status(503, { 'retry-after': new Date(time.now() - 60_000).toUTCString() }),
      created(),
    );
    await idempotentFetch('https://api.test/x', {
      fetch,
      sleep: time.sleep,
      now: time.now,
      random: () => 0,
    });
    expect(time.waits).toEqual([3_000, 0]);
  });

  it('ignore an unreadable Retry-After: the backoff alone decides', async () => {
    const { result, waits } = run([status(503, { 'retry-after': 'soon' }), created()], {
      random: () => 0.5,
    });
    await result;
    expect(waits).toEqual([125]);
  });

  it('end when Retry-After asks for more than maxDelayMs: that response is the result', async () => {
    const { result, sent, reports } = run([status(429, { 'retry-after': '60' }), created()], {
      maxDelayMs: 10_000,
    });
    const { response, attempts } = await result;
    expect([response.status, attempts, sent.length]).toEqual([429, 1, 1]);
    expect(reports[0]).not.toHaveProperty('retryInMs');
  });

  it('are reported after each attempt with its status, key, replay flag or error', async () => {
    const lost = networkError();
    const { result, reports } = run(
      [lost, problem(409, 'request-in-progress', { 'retry-after': '1' }), created(true)],
      { random: () => 0.5 },
    );
    const { key, replayed, attempts } = await result;
    expect([replayed, attempts]).toEqual([true, 3]);
    expect(reports).toEqual([
      { attempt: 1, key, replayed: false, error: lost, retryInMs: 125 },
      { attempt: 2, key, replayed: false, status: 409, retryInMs: 1_000 },
      { attempt: 3, key, replayed: true, status: 201 },
    ]);
  });
});

describe('replayed', () => {
  it.each([
    ['true', true],
    ['false', false],
    ['1', false],
  ])('is %s only when Idempotent-Replayed is "true"', async (value, expected) => {
    const { result } = run([status(201, { 'idempotent-replayed': value })]);
    expect((await result).replayed).toBe(expected);
  });

  it('is the last response’s', async () => {
    const { result } = run([status(503, { 'idempotent-replayed': 'true' }), created(false)]);
    expect((await result).replayed).toBe(false);
  });
});

describe('the signal and the deadline', () => {
  it('sends nothing when the signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('user left'));
    const { result, sent } = run([created()], { signal: controller.signal });
    const error = await result.catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({
      reason: 'aborted',
      attempts: 0,
      cause: controller.signal.reason,
    });
    expect(sent).toEqual([]);
  });

  it('aborts the attempt in flight, and retries nothing, when the signal aborts', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const hang = (_: unknown, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        seen = init?.signal ?? undefined;
        seen?.addEventListener('abort', () => reject(seen?.reason));
      });
    const fetch = vi.fn(hang);
    const result = idempotentFetch('https://api.test/x', { fetch, signal: controller.signal });
    await vi.waitFor(() => expect(seen).toBeDefined());
    controller.abort(new Error('user left'));
    await expect(result).rejects.toMatchObject({ reason: 'aborted', attempts: 1 });
    expect(seen?.aborted).toBe(true);
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('stops waiting for the next attempt when the signal aborts', async () => {
    const controller = new AbortController();
    const { fetch } = script(status(503, { 'retry-after': '5' }), created());
    const result = idempotentFetch('https://api.test/x', {
      fetch,
      signal: controller.signal,
      onAttempt: () => setTimeout(() => controller.abort(), 10),
    });
    const started = performance.now();
    await expect(result).rejects.toMatchObject({ reason: 'aborted', attempts: 1 });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('stops even when a custom sleep ignores the signal', async () => {
    const controller = new AbortController();
    const { fetch } = script(status(503), created());
    const result = idempotentFetch('https://api.test/x', {
      fetch,
      signal: controller.signal,
      sleep: async () => controller.abort(),
    });
    await expect(result).rejects.toMatchObject({ reason: 'aborted', attempts: 1 });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('does not take a wait that would end past the deadline', async () => {
    const served = run([status(503, { 'retry-after': '2' }), created()], { timeoutMs: 1_500 });
    const { response, attempts } = await served.result;
    expect([response.status, attempts, served.waits]).toEqual([503, 1, []]);

    const lost = run([networkError(), networkError(), created()], {
      timeoutMs: 1_000,
      baseDelayMs: 600,
      random: () => 0.9,
    });
    await expect(lost.result).rejects.toMatchObject({ reason: 'timeout', attempts: 2 });
    expect(lost.waits).toEqual([540]);
  });

  it('aborts the attempt in flight at the deadline', async () => {
    let seen: AbortSignal | undefined;
    const fetch = vi.fn(
      (_: unknown, init?: RequestInit) =>
        new Promise<Response>((_resolve, reject) => {
          seen = init?.signal ?? undefined;
          seen?.addEventListener('abort', () => reject(seen?.reason));
        }),
    );
    const started = performance.now();
    const error = await idempotentFetch('https://api.test/x', { fetch, timeoutMs: 50 }).catch(
      (thrown: unknown) => thrown,
    );
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(error).toMatchObject({ reason: 'timeout', attempts: 1 });
    expect((error as Error).cause).toMatchObject({ name: 'TimeoutError' });
    expect(seen?.aborted).toBe(true);
  });
});

describe('options', () => {
  it.each([
    ['maxAttempts', 0],
    ['maxAttempts', 1.5],
    ['baseDelayMs', -1],
    ['maxDelayMs', Number.NaN],
    ['timeoutMs', -5],
  ])('refuses %s = %s with a RangeError naming it', async (option, value) => {
    const { fetch } = script(created());
    await expect(idempotentFetch('https://api.test/x', { fetch, [option]: value })).rejects.toThrow(
      new RegExp(`${option} must be`),
    );
    expect(fetch).not.toHaveBeenCalled();
  });

  it('createIdempotentFetch binds defaults; each call is its own operation', async () => {
    const { fetch, sent } = script(status(503), created(), created());
    const time = clock();
    const send = createIdempotentFetch({ fetch, sleep: time.sleep, now: time.now });
    const first = await send('https://api.test/x', { method: 'POST', body: '1' });
    const second = await send('https://api.test/x', { method: 'POST', body: '2', maxAttempts: 1 });
    expect([first.attempts, second.attempts]).toEqual([2, 1]);
    expect(sent.map((request) => request.key)).toEqual([first.key, first.key, second.key]);
    expect(second.key).not.toBe(first.key);
  });

  it('uses the global fetch by default, looked up at the call', async () => {
    const { fetch } = script(created());
    vi.stubGlobal('fetch', fetch);
    try {
      expect((await idempotentFetch('https://api.test/x')).response.status).toBe(201);
      expect(fetch).toHaveBeenCalledTimes(1);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('types', () => {
  it('takes fetch’s own input and init, and resolves with the typed result', () => {
    expectTypeOf(idempotentFetch).parameter(0).toEqualTypeOf<string | URL | Request>();
    expectTypeOf<RequestInit>().toMatchTypeOf<IdempotentRequestInit>();
    expectTypeOf(idempotentFetch).returns.resolves.toEqualTypeOf<IdempotentResult>();
    expectTypeOf<IdempotentResult['response']>().toEqualTypeOf<Response>();
    expectTypeOf<IdempotentFetchError['reason']>().toEqualTypeOf<
      'network' | 'timeout' | 'aborted'
    >();
    // The global fetch is a valid `fetch` option.
    expectTypeOf(fetch).toMatchTypeOf<FetchLike>();
  });
});

describe('review: the signal of a Request input', () => {
  it('honours the signal of a Request input', async () => {
    const controller = new AbortController();
    controller.abort(new Error('user left'));
    const { fetch, sent } = script(created());
    const request = new Request('https://api.test/x', {
      method: 'POST',
      body: '1',
      signal: controller.signal,
    });
    await expect(idempotentFetch(request, { fetch })).rejects.toMatchObject({
      reason: 'aborted',
      attempts: 0,
    });
    expect(sent).toEqual([]);
  });
});

describe('review: aborts that land outside a fetch or a wait', () => {
  it('stops at once when the signal aborts during onAttempt, before the wait starts', async () => {
    const controller = new AbortController();
    const { fetch } = script(status(503, { 'retry-after': '3' }), created());
    const started = performance.now();
    const result = idempotentFetch('https://api.test/x', {
      fetch,
      signal: controller.signal,
      onAttempt: () => controller.abort(new Error('user left')),
    });
    await expect(result).rejects.toMatchObject({ reason: 'aborted', attempts: 1 });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('rejects as aborted, not with the 409, when the signal aborts while its body is read', async () => {
    const controller = new AbortController();
    // Like a real fetch: the body is tied to the attempt's signal and errors when it aborts.
    const fetch = vi.fn(async (_: unknown, init?: RequestInit) => {
      const signal = init!.signal!;
      const body = new ReadableStream<Uint8Array>({
        start(stream) {
          stream.enqueue(new TextEncoder().encode('{"type":"'));
          signal.addEventListener('abort', () => stream.error(signal.reason));
        },
      });
      setTimeout(() => controller.abort(new Error('user left')), 20);
      return new Response(body, { status: 409 });
    });
    const outcome = await idempotentFetch('https://api.test/x', {
      fetch,
      signal: controller.signal,
    }).then(
      ({ response }) => `resolved with ${response.status}`,
      (error: unknown) => error,
    );
    expect(outcome).toMatchObject({ reason: 'aborted', attempts: 1 });
  });
});

describe('review: single-use bodies', () => {
  it('refuses an async iterable body (Node fetch streams one), which a retry would send empty', async () => {
    const { fetch } = script(created());
    async function* chunks() {
      yield new TextEncoder().encode('{"amount":25}');
    }
    await expect(
      idempotentFetch('https://api.test/x', {
        method: 'POST',
        body: chunks() as unknown as RequestInit['body'],
        fetch,
      }),
    ).rejects.toThrow(/body can be sent only once/);
    expect(fetch).not.toHaveBeenCalled();
  });
});
