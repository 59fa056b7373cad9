import { afterEach, describe, expect, it } from 'vitest';

import {
  IdempotencyEngine,
  type IdempotencyDecision,
  type IdempotencyEvent,
  type IdempotencyRequest,
} from '../../src/core/idempotency/engine.js';
import {
  resolveIdempotencyPolicy,
  type IdempotencyOptions,
} from '../../src/core/idempotency/options.js';
import { TollgateConfigError } from '../../src/core/errors.js';
import { UNREADABLE_BODY } from '../../src/core/fingerprint.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { TollgateStore } from '../../src/core/store.js';
import { FakeClock } from '../helpers/fake-clock.js';

function request(
  overrides: Partial<IdempotencyRequest> & { key?: string } = {},
): IdempotencyRequest {
  const { key = 'key-1', ...rest } = overrides;
  const headers: Record<string, string> = key ? { 'idempotency-key': key } : {};
  return {
    method: 'POST',
    route: '/orders',
    scope: 'anonymous',
    header: (name) => headers[name],
    query: () => undefined,
    body: { item: 'book', amount: 1 },
    ...rest,
  };
}

const policy = (options: IdempotencyOptions = {}) =>
  resolveIdempotencyPolicy(options, undefined, { decorated: true });

function expectAction<A extends IdempotencyDecision['action']>(
  decision: IdempotencyDecision,
  action: A,
): Extract<IdempotencyDecision, { action: A }> {
  expect(decision.action).toBe(action);
  return decision as Extract<IdempotencyDecision, { action: A }>;
}

const json = (value: unknown) => ({
  status: 201,
  headers: {
    'content-type': 'application/json',
    location: '/orders/1',
    'set-cookie': ['a=1'],
    ratelimit: 'x',
  },
  body: Buffer.from(JSON.stringify(value)),
});

describe('IdempotencyEngine', () => {
  const clock = new FakeClock();
  let store = new MemoryStore({ clock });
  let events: IdempotencyEvent[] = [];
  let engine = new IdempotencyEngine(store, { onEvent: (event) => events.push(event) });

  afterEach(async () => {
    await store.close();
    store = new MemoryStore({ clock });
    events = [];
    engine = new IdempotencyEngine(store, { onEvent: (event) => events.push(event) });
  });

  it('runs the first request, then replays its response without the headers that are never replayed', async () => {
    const first = expectAction(await engine.begin(request(), policy()), 'proceed');
    await first.execution.finish(json({ id: 1 }));
    const replay = expectAction(await engine.begin(request(), policy()), 'replay');
    expect(replay.response.status).toBe(201);
    expect(Buffer.from(replay.response.body).toString()).toBe('{"id":1}');
    expect(replay.response.headers).toEqual([
      ['content-type', 'application/json'],
      ['location', '/orders/1'],
    ]);
  });

  it('answers 409 with a short Retry-After while the first request runs, not the whole lease', async () => {
    expectAction(await engine.begin(request(), policy({ lease: '30s' })), 'proceed');
    const second = expectAction(await engine.begin(request(), policy({ lease: '30s' })), 'reject');
    expect(second.error.status).toBe(409);
    expect(second.error.headers['Retry-After']).toBe('1');
    expect(second.error.type).toMatch(/request-in-progress\.md$/);
  });

  it('answers 422 when the key comes back with another body, and does not run it', async () => {
    const first = expectAction(await engine.begin(request(), policy()), 'proceed');
    await first.execution.finish(json({ id: 1 }));
    const other = expectAction(
      await engine.begin(request({ body: { item: 'pen' } }), policy()),
      'reject',
    );
    expect(other.error.status).toBe(422);
  });

  it('answers 400 for a missing key where one is required, and runs unprotected where not', async () => {
    expect(
      expectAction(await engine.begin(request({ key: '' }), policy()), 'reject').error.status,
    ).toBe(400);
    const optional = resolveIdempotencyPolicy({}, undefined, { decorated: false });
    expect(expectAction(await engine.begin(request({ key: '' }), optional), 'bypass').reason).toBe(
      'no-key',
    );
  });

  it('runs a request without a key unprotected on an optional route, whatever its body', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    const decision = await engine.begin(
      request({ key: '', body: deep }),
      policy({ required: false }),
    );
    expect(decision).toEqual({ action: 'bypass', reason: 'no-key' });
  });

  it.each([
    ['required', { required: 'yes' }],
    ['fingerprintHeaders', { fingerprintHeaders: 'x-tenant' }],
    ['fingerprintQuery', { fingerprintQuery: [1] }],
    ['replayHeaders', { replayHeaders: 'etag' }],
    ['outcome', { outcome: 'store' }],
  ])('names %s when it has the wrong type', (name, options) => {
    expect(() => policy(options as unknown as IdempotencyOptions)).toThrow(
      expect.objectContaining({
        code: 'TOLLGATE_INVALID_OPTION',
        message: expect.stringContaining(name),
      }),
    );
  });

  it('answers 400 for a malformed key and stores nothing', async () => {
    expect(
      expectAction(await engine.begin(request({ key: 'a b' }), policy()), 'reject').error.status,
    ).toBe(400);
    expect(store.size).toBe(0);
  });

  it.each([500, 503, 408, 409, 425, 429])(
    'releases the key after a %i so a retry runs again',
    async (status) => {
      const first = expectAction(await engine.begin(request(), policy()), 'proceed');
      await first.execution.finish({ status, headers: {}, body: Buffer.from('{}') });
      expectAction(await engine.begin(request(), policy()), 'proceed');
    },
  );

  it.each([200, 201, 204, 303, 400, 404, 422])('stores a %i and replays it', async (status) => {
    const first = expectAction(await engine.begin(request(), policy()), 'proceed');
    await first.execution.finish({ status, headers: {}, body: Buffer.alloc(0) });
    expect(expectAction(await engine.begin(request(), policy()), 'replay').response.status).toBe(
      status,
    );
  });

  it('releases the key when the handler ends with no response at all', async () => {
    const first = expectAction(await engine.begin(request(), policy()), 'proceed');
    await first.execution.abandon();
    expectAction(await engine.begin(request(), policy()), 'proceed');
  });

  it('lets a custom outcome policy decide', async () => {
    const releaseAll = policy({ outcome: () => 'release' });
    const first = expectAction(await engine.begin(request(), releaseAll), 'proceed');
    await first.execution.finish(json({}));
    expectAction(await engine.begin(request(), releaseAll), 'proceed');
  });

  it('tells later duplicates that a too-large response was not kept, and does not run them', async () => {
    const first = expectAction(await engine.begin(request(), policy()), 'proceed');
    await first.execution.finish({ status: 200, unstorable: 'too-large' });
    const duplicate = expectAction(await engine.begin(request(), policy()), 'reject');
    expect(duplicate.error.status).toBe(409);
    expect(duplicate.error.type).toMatch(/response-not-replayable\.md$/);
  });

  it('never replays one scope the response of another with the same key', async () => {
    const alice = expectAction(
      await engine.begin(request({ scope: '["alice"]' }), policy()),
      'proceed',
    );
    await alice.execution.finish(json({ owner: 'alice' }));
    expectAction(await engine.begin(request({ scope: '["bob"]' }), policy()), 'proceed');
  });

  it('keys by route and method: the same key on another route is another operation', async () => {
    const first = expectAction(await engine.begin(request(), policy()), 'proceed');
    await first.execution.finish(json({}));
    expectAction(await engine.begin(request({ route: '/refunds' }), policy()), 'proceed');
  });

  it('fingerprint strategy: identical requests replay within the window, then run again', async () => {
    const fp = policy({ strategy: 'fingerprint', window: '5s' });
    const noKey = { key: '' };
    const first = expectAction(await engine.begin(request(noKey), fp), 'proceed');
    await first.execution.finish(json({ id: 1 }));
    expectAction(
      await engine.begin(request({ ...noKey, body: { amount: 1, item: 'book' } }), fp),
      'replay',
    );
    expectAction(
      await engine.begin(request({ ...noKey, body: { amount: 2, item: 'book' } }), fp),
      'proceed',
    );
    clock.advance(5_001);
    expectAction(await engine.begin(request(noKey), fp), 'proceed');
  });

  it('fingerprint strategy: the same body on another path parameter is another request', async () => {
    const fp = policy({ strategy: 'fingerprint', window: '5s' });
    const onDevice = (id: string) =>
      request({ key: '', route: '/devices/:id/reports', params: { id } });
    const first = expectAction(await engine.begin(onDevice('1'), fp), 'proceed');
    await first.execution.finish(json({ id: 1 }));
    expectAction(await engine.begin(onDevice('1'), fp), 'replay');
    expectAction(await engine.begin(onDevice('2'), fp), 'proceed');
  });

  it('fingerprint strategy: refuses a body it cannot read with 415, rather than take it for a duplicate', async () => {
    const fp = policy({ strategy: 'fingerprint', window: '5s' });
    const decision = expectAction(
      await engine.begin(request({ key: '', body: UNREADABLE_BODY }), fp),
      'reject',
    );
    expect(decision.error.status).toBe(415);
    expect(decision.error.type).toMatch(/body-not-readable\.md$/);
  });

  it('key strategy: runs a request whose body it cannot read, keyed by the client key', async () => {
    const first = expectAction(
      await engine.begin(request({ body: UNREADABLE_BODY }), policy()),
      'proceed',
    );
    await first.execution.finish(json({ id: 1 }));
    expectAction(await engine.begin(request({ body: UNREADABLE_BODY }), policy()), 'replay');
  });

  it('key strategy: the same key on another path parameter is refused with 422, not replayed', async () => {
    const onOrder = (id: string) => request({ route: '/orders/:id/refund', params: { id } });
    const first = expectAction(await engine.begin(onOrder('1'), policy()), 'proceed');
    await first.execution.finish(json({ refunded: 1 }));
    expect(expectAction(await engine.begin(onOrder('2'), policy()), 'reject').error.status).toBe(
      422,
    );
  });

  it('lock strategy: duplicates get 409 until the lock expires, whatever the first one returned', async () => {
    const lock = policy({ strategy: 'lock', window: '2s', lockKey: 'fingerprint' });
    const first = expectAction(await engine.begin(request({ key: '' }), lock), 'proceed');
    await first.execution.finish({ status: 500, headers: {}, body: Buffer.alloc(0) });
    const duplicate = expectAction(await engine.begin(request({ key: '' }), lock), 'reject');
    expect(duplicate.error.status).toBe(409);
    expect(duplicate.error.headers['Retry-After']).toBe('2');
    clock.advance(2_001);
    expectAction(await engine.begin(request({ key: '' }), lock), 'proceed');
  });

  it('lock strategy with lockKey auto uses the header when sent', async () => {
    const lock = policy({ strategy: 'lock', window: '2s' });
    expectAction(await engine.begin(request({ key: 'a', body: 1 }), lock), 'proceed');
    expectAction(await engine.begin(request({ key: 'a', body: 2 }), lock), 'reject');
    expectAction(await engine.begin(request({ key: 'b', body: 1 }), lock), 'proceed');
  });

  it('waitForInFlight: a duplicate waits for the first and replays its result', async () => {
    const waiting = policy({ waitForInFlight: '2s' });
    const first = expectAction(await engine.begin(request(), waiting), 'proceed');
    const duplicate = engine.begin(request(), waiting);
    setTimeout(() => void first.execution.finish(json({ id: 7 })), 120);
    const replay = expectAction(await duplicate, 'replay');
    expect(Buffer.from(replay.response.body).toString()).toBe('{"id":7}');
  });

  it('waitForInFlight: a duplicate that waits in vain still gets the 409', async () => {
    const waiting = policy({ waitForInFlight: 150 });
    expectAction(await engine.begin(request(), waiting), 'proceed');
    const started = Date.now();
    expect(expectAction(await engine.begin(request(), waiting), 'reject').error.status).toBe(409);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe('IdempotencyEngine with a store that fails', () => {
  const silent: TollgateStore = {
    kind: 'silent',
    begin: () => new Promise(() => undefined),
    complete: () => new Promise(() => undefined),
    markUnstorable: () => new Promise(() => undefined),
    release: () => new Promise(() => undefined),
    renew: () => new Promise(() => undefined),
    lock: () => new Promise(() => undefined),
  };

  it('rejects with a 503 within the deadline when the store does not answer', async () => {
    const events: IdempotencyEvent[] = [];
    const engine = new IdempotencyEngine(silent, { onEvent: (event) => events.push(event) });
    const started = Date.now();
    const decision = expectAction(
      await engine.begin(request(), policy({ storeTimeout: 200 })),
      'reject',
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(decision.error.status).toBe(503);
    expect(decision.error.headers['Retry-After']).toBe('1');
    expect(events.map((event) => event.type)).toEqual([
      'store-call',
      'store-unavailable',
      'decision',
    ]);
    expect(events.at(-1)).toMatchObject({ outcome: 'store-unavailable-rejected' });
  });

  it('runs unprotected and reports it when the route allows that', async () => {
    const events: IdempotencyEvent[] = [];
    const failing: TollgateStore = {
      ...silent,
      begin: () => Promise.reject(new Error('ECONNREFUSED')),
    };
    const engine = new IdempotencyEngine(failing, { onEvent: (event) => events.push(event) });
    const decision = expectAction(
      await engine.begin(request(), policy({ onStoreUnavailable: 'allow' })),
      'bypass',
    );
    expect(decision.reason).toBe('store-unavailable');
    expect(events.find((event) => event.type === 'store-unavailable')).toMatchObject({
      policy: 'allow',
    });
    expect(events.at(-1)).toMatchObject({
      type: 'decision',
      outcome: 'store-unavailable-allowed',
    });
  });
});

describe('IdempotencyEngine lease renewal', () => {
  it('renews the lease while the handler runs, so a long handler keeps its key', async () => {
    const store = new MemoryStore();
    const engine = new IdempotencyEngine(store);
    const short = policy({ lease: 150 });
    const first = expectAction(await engine.begin(request(), short), 'proceed');
    await new Promise((resolve) => setTimeout(resolve, 450));
    expectAction(await engine.begin(request(), short), 'reject');
    await first.execution.finish(json({ id: 1 }));
    expectAction(await engine.begin(request(), short), 'replay');
    await store.close();
  });
});

describe('resolveIdempotencyPolicy', () => {
  it('fills in the documented defaults', () => {
    const resolved = resolveIdempotencyPolicy(undefined, undefined, { decorated: false });
    expect(resolved).toMatchObject({
      strategy: 'key',
      required: false,
      headerName: 'Idempotency-Key',
      retentionMs: 86_400_000,
      windowMs: 5_000,
      leaseMs: 30_000,
      maxResponseBytes: 1_048_576,
      onStoreUnavailable: 'reject',
      storeTimeoutMs: 1_000,
      waitForInFlightMs: 0,
    });
  });

  it('lets route options override module defaults', () => {
    const resolved = resolveIdempotencyPolicy(
      { retention: '1h' },
      { retention: '2h', lease: '10s' },
      { decorated: true },
    );
    expect(resolved.retentionMs).toBe(3_600_000);
    expect(resolved.leaseMs).toBe(10_000);
    expect(resolved.required).toBe(true);
  });

  it.each<[string, IdempotencyOptions, RegExp]>([
    ['strategy', { strategy: 'nope' as never }, /strategy/],
    ['retention', { retention: 'forever' as never }, /retention/],
    ['header name', { headerName: 'Bad Header' }, /headerName/],
    ['unsafe replay header', { replayHeaders: ['Set-Cookie'] }, /never replayed/],
    ['store policy', { onStoreUnavailable: 'ignore' as never }, /onStoreUnavailable/],
  ])('rejects an invalid %s with an error that says what to change', (_, options, message) => {
    expect(() => resolveIdempotencyPolicy(options, undefined, { decorated: true })).toThrow(
      TollgateConfigError,
    );
    expect(() => resolveIdempotencyPolicy(options, undefined, { decorated: true })).toThrow(
      message,
    );
  });
});
