import { context, trace } from '@opentelemetry/api';
import { DataPointType, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, describe, expect, it } from 'vitest';

import { StoreUnavailableError } from '../../src/core/errors.js';
import type { TollgateEvent } from '../../src/index.js';
import { openTelemetryEvents, TOLLGATE_METRICS } from '../../src/otel.js';
import { counterValue, histogramCount, meterProviderWithReader } from '../e2e/otel-metrics.js';

/**
 * How `openTelemetryEvents()` maps each kind of event, checked through the real metrics and
 * tracing SDKs: which instrument moves, with which attributes, and what the active span gets.
 */
const { provider, reader } = meterProviderWithReader();
const spans = new InMemorySpanExporter();
// Registered, so the active span follows async context as in an instrumented app.
const tracerProvider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
tracerProvider.register();
const tracer = tracerProvider.getTracer('test');
const record = openTelemetryEvents({ meterProvider: provider });

afterAll(async () => {
  await provider.shutdown();
  await tracerProvider.shutdown();
});

/** Runs `events` through the handler inside an active span, and returns that span. */
function inSpan(events: TollgateEvent[]) {
  const span = tracer.startSpan('request');
  context.with(trace.setSpan(context.active(), span), () => {
    for (const event of events) record(event);
  });
  span.end();
  return spans.getFinishedSpans().at(-1);
}

const timeout = new StoreUnavailableError('the store did not answer begin within 1000 ms');
const refused = new StoreUnavailableError('the store failed consume: READONLY', {
  cause: Object.assign(new Error('READONLY'), { name: 'ReplyError' }),
});

describe('openTelemetryEvents()', () => {
  it('counts a message handler by its name, never as an HTTP route', async () => {
    record({
      area: 'idempotency',
      type: 'decision',
      route: 'orders.created#OrdersConsumer.handle',
      method: 'MESSAGE',
      outcome: 'replay',
      strategy: 'key',
    });
    const metrics = await reader.metrics();
    const requests = metrics.get(TOLLGATE_METRICS.idempotencyRequests);
    expect(
      counterValue(requests, {
        'tollgate.handler': 'orders.created#OrdersConsumer.handle',
        'tollgate.outcome': 'replay',
      }),
    ).toBe(1);
    expect(counterValue(requests, { 'http.request.method': 'MESSAGE' })).toBe(0);
  });

  it('records failed store calls with error.type: timeout, or the class of what the store threw', async () => {
    const site = { area: 'rate-limit', route: '/quotes', method: 'GET' } as const;
    record({
      ...site,
      type: 'store-call',
      operation: 'consume',
      durationMs: 1000,
      ok: false,
      error: timeout,
    });
    record({
      ...site,
      type: 'store-call',
      operation: 'consume',
      durationMs: 3,
      ok: false,
      error: refused,
    });
    record({ ...site, type: 'store-call', operation: 'consume', durationMs: 0.4, ok: true });
    const duration = (await reader.metrics()).get(TOLLGATE_METRICS.storeDuration);
    expect(histogramCount(duration, { 'error.type': 'timeout', 'http.route': '/quotes' })).toBe(1);
    expect(histogramCount(duration, { 'error.type': 'ReplyError' })).toBe(1);
    expect(histogramCount(duration, { 'tollgate.store.operation': 'consume' })).toBe(3);
    if (duration?.dataPointType !== DataPointType.HISTOGRAM) throw new Error('not a histogram');
    const ok = (duration as HistogramMetricData).dataPoints.find(
      (point) => point.attributes['error.type'] === undefined,
    );
    // Seconds, not milliseconds.
    expect(ok?.value.sum).toBeCloseTo(0.0004, 6);
  });

  it('counts lost leases and unrecorded results, and tells the active span', async () => {
    const site = { area: 'idempotency', route: '/payments', method: 'POST' } as const;
    const span = inSpan([
      { ...site, type: 'lease-lost' },
      { ...site, type: 'finish-retrying', error: timeout },
      { ...site, type: 'finish-failed', error: timeout },
    ]);
    const failures = (await reader.metrics()).get(TOLLGATE_METRICS.idempotencyFailures);
    for (const failure of ['lease_lost', 'finish_retrying', 'finish_failed']) {
      expect(
        counterValue(failures, { 'tollgate.failure': failure, 'http.route': '/payments' }),
      ).toBe(1);
    }
    expect(span?.events.map((event) => event.name)).toEqual([
      'tollgate.idempotency.lease_lost',
      'tollgate.idempotency.finish_retrying',
      'tollgate.idempotency.finish_failed',
    ]);
  });

  it('puts the outcome on the active span, and a store outage as a span event', () => {
    const span = inSpan([
      {
        area: 'rate-limit',
        route: '/search',
        method: 'GET',
        type: 'store-unavailable',
        outcome: 'allowed',
        limits: { burst: 'allow' },
        error: timeout,
      },
      {
        area: 'rate-limit',
        route: '/search',
        method: 'GET',
        type: 'decision',
        outcome: 'store-unavailable-allowed',
        limits: [],
      },
    ]);
    expect(span?.attributes['tollgate.rate_limit.outcome']).toBe('store_unavailable_allowed');
    expect(span?.events.map((event) => [event.name, event.attributes])).toEqual([
      ['tollgate.store_unavailable', { 'error.type': 'timeout' }],
    ]);
  });

  it('counts exclusive-lease events by lease name', async () => {
    record({ area: 'lease', name: 'nightly', type: 'lease-acquired', fencingToken: 7 });
    record({ area: 'lease', name: 'nightly', type: 'lease-lost', reason: 'not confirmed in time' });
    record({ area: 'lease', name: 'nightly', type: 'lease-store-unavailable', error: refused });
    record({
      area: 'lease',
      name: 'nightly',
      type: 'store-call',
      operation: 'renew',
      durationMs: 2,
      ok: true,
    });
    const metrics = await reader.metrics();
    const leases = metrics.get(TOLLGATE_METRICS.leaseEvents);
    expect(
      counterValue(leases, {
        'tollgate.lease.name': 'nightly',
        'tollgate.lease.event': 'acquired',
      }),
    ).toBe(1);
    expect(counterValue(leases, { 'tollgate.lease.event': 'lost' })).toBe(1);
    expect(
      counterValue(leases, {
        'tollgate.lease.event': 'store_unavailable',
        'error.type': 'ReplyError',
      }),
    ).toBe(1);
    expect(
      histogramCount(metrics.get(TOLLGATE_METRICS.storeDuration), {
        'tollgate.lease.name': 'nightly',
        'tollgate.store.operation': 'renew',
      }),
    ).toBe(1);
  });

  it('leaves spans alone with spans: false', () => {
    const quiet = openTelemetryEvents({ meterProvider: provider, spans: false });
    const span = tracer.startSpan('request');
    context.with(trace.setSpan(context.active(), span), () =>
      quiet({
        area: 'rate-limit',
        route: '/q',
        method: 'GET',
        type: 'decision',
        outcome: 'throttled',
        limits: ['burst'],
      }),
    );
    span.end();
    expect(spans.getFinishedSpans().at(-1)?.attributes).toEqual({});
  });
});
