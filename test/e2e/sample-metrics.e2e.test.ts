import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import { createExpressSampleApp } from '../../sample-app/src/express/create-app.js';
import { configFromEnv, type SampleAppConfig } from '../../sample-app/src/shared/config.js';
import { request } from '../helpers/http.js';

/**
 * `OTEL_METRICS=prometheus`: every variant of the sample serves Tollgate's events at `/metrics`,
 * in the Prometheus text format, through the OpenTelemetry SDK and `tollgate/otel`. Scraped after
 * a few requests whose outcomes are known, the counters hold exactly those.
 */

interface RunningSample {
  baseUrl: string;
  close(): Promise<void>;
}

async function startNest(
  platform: 'express' | 'fastify',
  config: SampleAppConfig,
): Promise<RunningSample> {
  const { app } = await createSampleApp({ ...config, logger: false, platform });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}

async function startExpress(config: SampleAppConfig): Promise<RunningSample> {
  const { app, store } = await createExpressSampleApp({ ...config, logger: false });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
      await store.close?.();
    },
  };
}

const VARIANTS = [
  { name: 'Nest', start: (config: SampleAppConfig) => startNest('express', config) },
  { name: 'Nest on Fastify', start: (config: SampleAppConfig) => startNest('fastify', config) },
  { name: 'Express', start: startExpress },
];

/** The value of the sample `name` (a counter: with its `_total`) whose labels include `labels`. */
function sampleValue(text: string, name: string, labels: Record<string, string>): number {
  const lines = text
    .split('\n')
    .filter((line) => new RegExp(`^${name}(_[a-z]+)?_total\\{`).test(line))
    .filter((line) =>
      Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`)),
    );
  return lines.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe.each(VARIANTS)('the sample’s /metrics ($name)', ({ start }) => {
  let sample: RunningSample;
  let metrics: { shutdown(): Promise<void> } | undefined;
  beforeAll(async () => {
    const { port: _port, ...config } = configFromEnv({ OTEL_METRICS: 'prometheus' });
    metrics = config.metrics;
    sample = await start(config);
  });
  afterAll(async () => {
    await sample?.close();
    await metrics?.shutdown();
  });

  it('counts each request’s outcome, scraped in the Prometheus text format', async () => {
    const statuses: number[] = [];
    // GET /quotes allows 5 per 10 s: five pass, the sixth is throttled.
    for (let i = 0; i < 6; i++)
      statuses.push((await request(sample.baseUrl, 'GET', '/quotes')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const order = await request(sample.baseUrl, 'POST', '/orders', {
      body: { item: 'book', amount: 12 },
      headers: { 'idempotency-key': 'metrics-order-1' },
    });
    expect(order.status).toBe(201);

    const scraped = await request(sample.baseUrl, 'GET', '/metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(scraped.text).toMatch(/^# HELP tollgate_rate_limit_requests/m);
    const quotes = { http_route: '/quotes' };
    expect(
      sampleValue(scraped.text, 'tollgate_rate_limit_requests', {
        ...quotes,
        tollgate_outcome: 'allowed',
      }),
    ).toBe(5);
    expect(
      sampleValue(scraped.text, 'tollgate_rate_limit_requests', {
        ...quotes,
        tollgate_outcome: 'throttled',
      }),
    ).toBe(1);
    expect(
      sampleValue(scraped.text, 'tollgate_idempotency_requests', {
        http_route: '/orders',
        tollgate_outcome: 'first_execution',
      }),
    ).toBe(1);
  });
});

describe('the sample without OTEL_METRICS', () => {
  it('serves no /metrics', async () => {
    const sample = await startExpress(configFromEnv({}));
    try {
      expect((await request(sample.baseUrl, 'GET', '/metrics')).status).toBe(404);
    } finally {
      await sample.close();
    }
  });
});
