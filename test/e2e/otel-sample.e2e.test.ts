import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TollgateEvent } from '../../src/index.js';
import { openTelemetryEvents, TOLLGATE_METRICS } from '../../src/otel.js';
import { request, type HttpResult } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startTracing, type Tracing } from './otel-capture.js';
import { counterValue, histogramCount, meterProviderWithReader } from './otel-metrics.js';

/**
 * Tollgate's events on the sample's own routes, through the OpenTelemetry SDK: every outcome a
 * client can cause moves its counter once, the store-latency histogram fills, the server span
 * carries the outcome, and the event stream has exactly one decision per request. Run on every
 * variant of the sample, on the in-memory store and on a real redis-server.
 *
 * Tracing starts before the sample is imported, as an agent loaded with `--require` does.
 */
const tracing: Tracing = startTracing();
const { createSampleApp } = await import('../../sample-app/src/create-app.js');
const { createExpressSampleApp } = await import('../../sample-app/src/express/create-app.js');

afterAll(() => tracing.stop());

interface RunningSample {
  baseUrl: string;
  close(): Promise<void>;
}

type Start = (config: {
  redisUrl: string | undefined;
  onEvent: (event: TollgateEvent) => void;
}) => Promise<RunningSample>;

async function startNest(
  platform: 'express' | 'fastify',
  config: Parameters<Start>[0],
): Promise<RunningSample> {
  const { app } = await createSampleApp({ ...config, logger: false, platform });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}

const VARIANTS: Record<string, Start> = {
  Nest: (config) => startNest('express', config),
  'Nest on Fastify': (config) => startNest('fastify', config),
  async Express(config) {
    const { app, store } = await createExpressSampleApp({ ...config, logger: false });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    return {
      baseUrl: `http://127.0.0.1:${port}`,
      async close() {
        const closed = new Promise((done) => server.close(done));
        server.closeAllConnections();
        await closed;
        await store.close?.();
      },
    };
  },
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What one request should be decided as, and the counter and attributes that count it. */
interface Expected {
  area: 'idempotency' | 'rate-limit';
  route: string;
  /** The decision event's outcome (`first-execution`); the metric's is the same in snake case. */
  outcome: string;
  /** For throttled requests: the limits that refused it. */
  limits?: string[];
}

describe.each(Object.keys(VARIANTS))('OpenTelemetry on the %s sample', (variantName) => {
  describe.each(['memory', 'redis'] as const)('on the %s store', (storeKind) => {
    let redis: RedisServer | undefined;
    let sample: RunningSample;
    const { provider, reader } = meterProviderWithReader();
    const events: TollgateEvent[] = [];
    /** How often each (area, route, outcome, limit) was decided, as the counters must say. */
    const tally = new Map<string, number>();

    beforeAll(async () => {
      if (storeKind === 'redis') redis = await startRedis();
      const metrics = openTelemetryEvents({ meterProvider: provider });
      sample = await (VARIANTS[variantName] as Start)({
        redisUrl: redis?.url,
        onEvent: (event) => {
          events.push(event);
          metrics(event);
        },
      });
    });

    afterAll(async () => {
      await sample?.close();
      await redis?.stop();
      await provider.shutdown();
    });

    const call = (
      method: string,
      path: string,
      options: { key?: string; body?: unknown; user: string },
    ): Promise<HttpResult> =>
      request(sample.baseUrl, method, path, {
        ...(options.body === undefined ? {} : { body: options.body }),
        headers: {
          authorization: `Bearer ${options.user}`,
          ...(options.key === undefined ? {} : { 'idempotency-key': options.key }),
        },
      });

    /** The decision events reported since `from`. */
    const decisionsSince = (from: number): TollgateEvent[] =>
      events.slice(from).filter((event) => event.type === 'decision');

    const count = (expected: Expected): void => {
      const id = tallyKey(expected);
      tally.set(id, (tally.get(id) ?? 0) + 1);
    };

    /**
     * Sends one request and checks the event stream: exactly one decision, the expected one, for
     * the route's template; and the store calls it made, timed.
     */
    async function step(
      method: string,
      path: string,
      options: { key?: string; body?: unknown; user: string },
      status: number,
      expected: Expected,
    ): Promise<HttpResult> {
      const from = events.length;
      const response = await call(method, path, options);
      expect(response.status, `${method} ${path}: ${response.text}`).toBe(status);
      // A result is recorded just after the response is sent: its events come a moment later.
      await sleep(30);
      const decisions = decisionsSince(from);
      expect(decisions).toHaveLength(1);
      expect(decisions[0]).toMatchObject({
        area: expected.area,
        route: expected.route,
        method,
        outcome: expected.outcome,
        ...(expected.limits ? { limits: expected.limits } : {}),
      });
      // Every decision but a refused key asked the store.
      expect(events.slice(from).some((event) => event.type === 'store-call')).toBe(
        expected.outcome !== 'invalid-request',
      );
      count(expected);
      return response;
    }

    it('reports each idempotency outcome once per request, on /orders, /commands and /reports', async () => {
      const user = `u-${randomUUID()}`;
      const key = randomUUID();
      const order = { item: 'book', amount: 12 };
      const orders = { area: 'idempotency', route: '/orders' } as const;
      await step('POST', '/orders', { key, body: order, user }, 201, {
        ...orders,
        outcome: 'first-execution',
      });
      const replay = await step('POST', '/orders', { key, body: order, user }, 201, {
        ...orders,
        outcome: 'replay',
      });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      await step('POST', '/orders', { key, body: { ...order, amount: 13 }, user }, 422, {
        ...orders,
        outcome: 'key-reused',
      });
      await step('POST', '/orders', { body: order, user }, 400, {
        ...orders,
        outcome: 'invalid-request',
      });

      const command = { run: randomUUID() };
      const commands = { area: 'idempotency', route: '/commands' } as const;
      await step('POST', '/commands', { body: command, user }, 202, {
        ...commands,
        outcome: 'first-execution',
      });
      await step('POST', '/commands', { body: command, user }, 409, {
        ...commands,
        outcome: 'lock-refused',
      });

      const report = { change: randomUUID() };
      const reports = { area: 'idempotency', route: '/reports' } as const;
      await step('POST', '/reports', { body: report, user }, 201, {
        ...reports,
        outcome: 'first-execution',
      });
      await step('POST', '/reports', { body: report, user }, 201, {
        ...reports,
        outcome: 'replay',
      });
    });

    it('reports a duplicate of a running payment as in progress, once', async () => {
      const user = `u-${randomUUID()}`;
      const key = randomUUID();
      const from = events.length;
      const first = call('POST', '/payments', { key, body: { amount: 5, delayMs: 400 }, user });
      await sleep(100);
      const duplicate = await call('POST', '/payments', {
        key,
        body: { amount: 5, delayMs: 400 },
        user,
      });
      expect(duplicate.status).toBe(409);
      expect((await first).status).toBe(201);
      await sleep(30);
      const outcomes = decisionsSince(from).map((event) =>
        event.type === 'decision' ? event.outcome : undefined,
      );
      expect(outcomes.sort()).toEqual(['first-execution', 'in-progress']);
      count({ area: 'idempotency', route: '/payments', outcome: 'first-execution' });
      count({ area: 'idempotency', route: '/payments', outcome: 'in-progress' });
    });

    it('reports rate-limit decisions once per request, with the limit that refused', async () => {
      const user = `u-${randomUUID()}`;
      const quotes = { area: 'rate-limit', route: '/quotes' } as const;
      for (let i = 0; i < 5; i++) {
        await step('GET', '/quotes', { user }, 200, { ...quotes, outcome: 'allowed' });
      }
      await step('GET', '/quotes', { user }, 429, {
        ...quotes,
        outcome: 'throttled',
        limits: ['default'],
      });
      const search = { area: 'rate-limit', route: '/search' } as const;
      for (let i = 0; i < 3; i++) {
        await step('GET', '/search?q=a', { user }, 200, { ...search, outcome: 'allowed' });
      }
      await step('GET', '/search?q=a', { user }, 429, {
        ...search,
        outcome: 'throttled',
        limits: ['burst'],
      });
    });

    if (storeKind === 'redis') {
      it('reports what each route does while Redis does not answer, and the calls that timed out', async () => {
        const user = `u-${randomUUID()}`;
        redis?.pause();
        try {
          await step(
            'POST',
            '/orders',
            { key: randomUUID(), body: { item: 'pen', amount: 1 }, user },
            503,
            {
              area: 'idempotency',
              route: '/orders',
              outcome: 'store-unavailable-rejected',
            },
          );
          await step('GET', '/quotes', { user }, 200, {
            area: 'rate-limit',
            route: '/quotes',
            outcome: 'store-unavailable-allowed',
          });
        } finally {
          redis?.resume();
        }
        const metrics = await reader.metrics();
        const duration = metrics.get(TOLLGATE_METRICS.storeDuration);
        expect(
          histogramCount(duration, {
            'tollgate.store.operation': 'begin',
            'error.type': 'timeout',
          }),
        ).toBe(1);
        expect(
          histogramCount(duration, {
            'tollgate.store.operation': 'consume',
            'error.type': 'timeout',
          }),
        ).toBe(1);
      });
    }

    it('the counters say exactly what the events said, and the latency histogram filled', async () => {
      const metrics = await reader.metrics();
      for (const [id, expected] of tally) {
        const { area, route, outcome, limit } = JSON.parse(id) as Record<string, string>;
        const name =
          area === 'idempotency'
            ? TOLLGATE_METRICS.idempotencyRequests
            : TOLLGATE_METRICS.rateLimitRequests;
        const match = {
          'http.route': route as string,
          'tollgate.outcome': (outcome as string).replaceAll('-', '_'),
          ...(limit ? { 'tollgate.limit': limit } : {}),
        };
        expect(counterValue(metrics.get(name), match), id).toBe(expected);
      }
      // Every decision was counted once, and nothing else was.
      const total = [...tally.values()].reduce((sum, n) => sum + n, 0);
      expect(
        counterValue(metrics.get(TOLLGATE_METRICS.idempotencyRequests), {}) +
          counterValue(metrics.get(TOLLGATE_METRICS.rateLimitRequests), {}),
      ).toBe(total);

      const duration = metrics.get(TOLLGATE_METRICS.storeDuration);
      expect(duration?.descriptor.unit).toBe('s');
      for (const operation of ['begin', 'complete', 'lock', 'consume']) {
        expect(histogramCount(duration, { 'tollgate.store.operation': operation })).toBeGreaterThan(
          0,
        );
      }
      // Nothing that names a client: no key, principal or address among the attributes.
      for (const metric of metrics.values()) {
        for (const point of metric.dataPoints) {
          const text = JSON.stringify(point.attributes);
          expect(text).not.toMatch(/u-[0-9a-f-]{36}|127\.0\.0\.1|[0-9a-f]{8}-[0-9a-f]{4}-/);
        }
      }
    });

    it('the server span carries the decision, and a throttled request an event', async () => {
      const user = `u-${randomUUID()}`;
      const key = randomUUID();
      const spansBefore = tracing.serverSpans().length;
      await call('POST', '/orders', { key, body: { item: 'cup', amount: 2 }, user });
      await call('POST', '/orders', { key, body: { item: 'cup', amount: 2 }, user });
      for (let i = 0; i < 6; i++) await call('GET', '/quotes', { user });
      await expect.poll(() => tracing.serverSpans().length - spansBefore).toBe(8);
      const spans = tracing.serverSpans().slice(spansBefore);
      const outcomes = spans
        .map((span) => span.attributes['tollgate.idempotency.outcome'])
        .filter((value) => value !== undefined);
      expect(outcomes.sort()).toEqual(['first_execution', 'replay']);
      const rateLimited = spans.map((span) => span.attributes['tollgate.rate_limit.outcome']);
      expect(rateLimited.filter((value) => value === 'allowed')).toHaveLength(5);
      const throttled = spans.filter((span) =>
        span.events.some((event) => event.name === 'tollgate.rate_limit.throttled'),
      );
      expect(throttled).toHaveLength(1);
      expect(throttled[0]?.attributes['tollgate.rate_limit.outcome']).toBe('throttled');
      expect(
        throttled[0]?.events.find((event) => event.name === 'tollgate.rate_limit.throttled')
          ?.attributes,
      ).toEqual({ 'tollgate.limit': 'default' });
    });
  });
});

function tallyKey(expected: Expected): string {
  return JSON.stringify({
    area: expected.area,
    route: expected.route,
    outcome: expected.outcome,
    ...(expected.limits ? { limit: expected.limits.join(',') } : {}),
  });
}
