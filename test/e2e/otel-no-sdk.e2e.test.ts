import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

import { metrics, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TollgateEvent } from '../../src/index.js';
import { openTelemetryEvents, TOLLGATE_METRICS } from '../../src/otel.js';
import { createExpressSampleApp } from '../../sample-app/src/express/create-app.js';
import { request } from '../helpers/http.js';
import { counterValue, meterProviderWithReader } from './otel-metrics.js';

/**
 * `openTelemetryEvents()` in an app that registered no OpenTelemetry SDK: the API's no-op
 * instruments, nothing recorded, every request answered as without it. This file runs in its own
 * process, so no other suite has registered a global provider.
 */
describe('openTelemetryEvents() without an SDK', () => {
  let baseUrl: string;
  let close: () => Promise<void>;
  const seen: TollgateEvent[] = [];

  beforeAll(async () => {
    expect(trace.getActiveSpan()).toBeUndefined();
    const handler = openTelemetryEvents();
    const { app, store } = await createExpressSampleApp({
      redisUrl: undefined,
      logger: false,
      onEvent: (event) => {
        seen.push(event);
        handler(event);
      },
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = async () => {
      const closed = new Promise((done) => server.close(done));
      server.closeAllConnections();
      await closed;
      await store.close?.();
    };
  });

  afterAll(() => close?.());

  it('answers every request as it would without it, and never throws', async () => {
    const key = randomUUID();
    const user = { authorization: `Bearer u-${randomUUID()}` };
    const order = (): Promise<{ status: number }> =>
      request(baseUrl, 'POST', '/orders', {
        body: { item: 'book', amount: 1 },
        headers: { ...user, 'idempotency-key': key },
      });
    expect((await order()).status).toBe(201);
    expect((await order()).status).toBe(201);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await request(baseUrl, 'GET', '/quotes', { headers: user })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    // The engines swallow a throwing handler, so the same events go through one where it shows.
    const handler = openTelemetryEvents();
    for (const event of seen) expect(() => handler(event)).not.toThrow();
    expect(seen.some((event) => event.type === 'decision')).toBe(true);
    expect(seen.some((event) => event.type === 'store-call')).toBe(true);
  });

  it('records nothing: an SDK registered later never hears a handler made before it', async () => {
    const { provider, reader } = meterProviderWithReader();
    metrics.setGlobalMeterProvider(provider);
    try {
      await request(baseUrl, 'POST', '/orders', {
        body: { item: 'pen', amount: 1 },
        headers: { 'idempotency-key': randomUUID() },
      });
      const collected = await reader.metrics();
      expect(collected.get(TOLLGATE_METRICS.idempotencyRequests)).toBeUndefined();
      expect(collected.get(TOLLGATE_METRICS.storeDuration)).toBeUndefined();

      // A handler made once the SDK is registered records through the global provider.
      const handler = openTelemetryEvents();
      handler({
        area: 'idempotency',
        type: 'decision',
        route: '/orders',
        method: 'POST',
        outcome: 'replay',
        strategy: 'key',
      });
      const after = await reader.metrics();
      expect(
        counterValue(after.get(TOLLGATE_METRICS.idempotencyRequests), {
          'http.route': '/orders',
          'http.request.method': 'POST',
          'tollgate.outcome': 'replay',
          'tollgate.idempotency.strategy': 'key',
        }),
      ).toBe(1);
    } finally {
      metrics.disable();
      await provider.shutdown();
    }
  });
});
