/**
 * Tollgate's events as OpenTelemetry metrics and span attributes: `import { openTelemetryEvents }
 * from 'tollgate/otel'`. Only this entry point imports `@opentelemetry/api` (an optional peer);
 * the core knows nothing of it. With no SDK registered every instrument is a no-op.
 */
import { createRequire } from 'node:module';

import { metrics, trace, type Attributes, type MeterProvider } from '@opentelemetry/api';

import type { TollgateEvent } from './core/events.js';
import type { IdempotencyEvent } from './core/idempotency/events.js';
import type { ExclusiveLeaseEvent } from './core/lease/events.js';
import type { RateLimitEvent } from './core/ratelimit/events.js';

export type { TollgateEvent } from './core/events.js';

/** Options of `openTelemetryEvents()`. */
export interface OpenTelemetryEventsOptions {
  /** Where the instruments come from. Default: the global provider, as registered when this is called. */
  meterProvider?: MeterProvider;
  /** Also set attributes and add events on the active span. Default true. */
  spans?: boolean;
}

/** The metrics `openTelemetryEvents()` records, by name. */
export const TOLLGATE_METRICS = {
  /** Counter: one per protected request, by `tollgate.outcome`. */
  idempotencyRequests: 'tollgate.idempotency.requests',
  /** Counter: a lost lease, a result write retried or given up, by `tollgate.failure`. */
  idempotencyFailures: 'tollgate.idempotency.execution.failures',
  /** Counter: one per throttled request, by `tollgate.outcome` (and `tollgate.limit` when refused). */
  rateLimitRequests: 'tollgate.rate_limit.requests',
  /** Counter: exclusive leases acquired, lost, released, ..., by `tollgate.lease.event`. */
  leaseEvents: 'tollgate.lease.events',
  /** Histogram, seconds: each store call, by `tollgate.store.operation`, with `error.type` on failure. */
  storeDuration: 'tollgate.store.duration',
} as const;

/**
 * Store calls take from well under a millisecond (memory, a local Redis) to the store timeout
 * (1 s by default): the default buckets, made for HTTP requests, would put them all in the first.
 */
const STORE_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/**
 * An `onEvent` handler that records Tollgate's events as OpenTelemetry metrics, and as attributes
 * and events on the active span. Attributes name the route (`http.route`, or `tollgate.handler`
 * for a message handler), the method and the outcome: never a key, a principal or an address.
 *
 * Register the SDK's `MeterProvider` before calling it, as with any instrumentation.
 *
 * @example
 * ```ts
 * TollgateModule.forRoot({ store, onEvent: openTelemetryEvents() });
 * app.post('/orders', idempotent({ store, onEvent: openTelemetryEvents() }), createOrder);
 * ```
 */
export function openTelemetryEvents(
  options: OpenTelemetryEventsOptions = {},
): (event: TollgateEvent) => void {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('tollgate', VERSION);
  const idempotencyRequests = meter.createCounter(TOLLGATE_METRICS.idempotencyRequests, {
    description: 'Requests under idempotency protection, by what Tollgate decided.',
    unit: '{request}',
  });
  const idempotencyFailures = meter.createCounter(TOLLGATE_METRICS.idempotencyFailures, {
    description: 'Protected executions that lost their lease or could not record their result.',
    unit: '{failure}',
  });
  const rateLimitRequests = meter.createCounter(TOLLGATE_METRICS.rateLimitRequests, {
    description: 'Rate-limited requests, by what Tollgate decided.',
    unit: '{request}',
  });
  const leaseEvents = meter.createCounter(TOLLGATE_METRICS.leaseEvents, {
    description: 'Exclusive leases acquired, lost, released, or not reachable.',
    unit: '{event}',
  });
  const storeDuration = meter.createHistogram(TOLLGATE_METRICS.storeDuration, {
    description: 'Duration of store calls, as the app sees them (deadline included).',
    unit: 's',
    advice: { explicitBucketBoundaries: STORE_DURATION_BUCKETS },
  });
  const spans = options.spans !== false;

  return (event) => {
    if (event.type === 'store-call') {
      const attributes = event.area === 'lease' ? leaseSite(event) : requestSite(event);
      attributes['tollgate.store.operation'] = event.operation;
      if (!event.ok) attributes['error.type'] = errorType(event.error);
      storeDuration.record(event.durationMs / 1000, attributes);
      return;
    }
    switch (event.area) {
      case 'idempotency':
        return idempotency(event);
      case 'rate-limit':
        return rateLimit(event);
      case 'lease':
        return lease(event);
    }
  };

  /** The decision that follows is counted; the span hears why the store was not asked. */
  function storeUnavailable(error: Error): void {
    if (spans) {
      trace
        .getActiveSpan()
        ?.addEvent('tollgate.store_unavailable', { 'error.type': errorType(error) });
    }
  }

  function idempotency(event: Exclude<IdempotencyEvent, { type: 'store-call' }>): void {
    if (event.type === 'decision') {
      const outcome = snake(event.outcome);
      const attributes = requestSite(event);
      attributes['tollgate.outcome'] = outcome;
      attributes['tollgate.idempotency.strategy'] = event.strategy;
      idempotencyRequests.add(1, attributes);
      if (spans) trace.getActiveSpan()?.setAttribute('tollgate.idempotency.outcome', outcome);
      return;
    }
    if (event.type === 'store-unavailable') {
      storeUnavailable(event.error);
      return;
    }
    const failure = snake(event.type);
    const attributes = requestSite(event);
    attributes['tollgate.failure'] = failure;
    idempotencyFailures.add(1, attributes);
    if (spans) trace.getActiveSpan()?.addEvent(`tollgate.idempotency.${failure}`);
  }

  function rateLimit(event: Exclude<RateLimitEvent, { type: 'store-call' }>): void {
    // Said once, or about a give-back: for the logs, not for the request counters.
    if (event.type === 'forwarded-for-ignored' || event.type === 'refund-failed') return;
    if (event.type === 'store-unavailable') {
      storeUnavailable(event.error);
      return;
    }
    const outcome = snake(event.outcome);
    const attributes = requestSite(event);
    attributes['tollgate.outcome'] = outcome;
    if (event.limits.length > 0) attributes['tollgate.limit'] = event.limits.join(',');
    rateLimitRequests.add(1, attributes);
    if (!spans) return;
    const span = trace.getActiveSpan();
    if (!span) return;
    span.setAttribute('tollgate.rate_limit.outcome', outcome);
    if (event.limits.length > 0) {
      span.addEvent('tollgate.rate_limit.throttled', { 'tollgate.limit': event.limits.join(',') });
    }
  }

  function lease(event: Exclude<ExclusiveLeaseEvent, { type: 'store-call' }>): void {
    const attributes = leaseSite(event);
    attributes['tollgate.lease.event'] = snake(event.type.replace(/^lease-/, ''));
    if (event.type === 'lease-store-unavailable' || event.type === 'lease-work-failed') {
      attributes['error.type'] = errorType(event.error);
    }
    leaseEvents.add(1, attributes);
  }
}

/** The route of a request or message, and its method: the attributes every request metric has. */
function requestSite(event: { route: string; method: string }): Attributes {
  // Messages are described with the method MESSAGE and the handler as their route.
  if (event.method === 'MESSAGE') return { 'tollgate.handler': event.route };
  return { 'http.route': event.route, 'http.request.method': event.method };
}

function leaseSite(event: { name: string }): Attributes {
  return { 'tollgate.lease.name': event.name };
}

/**
 * `error.type`, kept low in cardinality: `timeout` when the store did not answer in time, else the
 * class of the error it failed with (`ReplyError`, `Error`), never its message.
 */
function errorType(error: Error | undefined): string {
  if (error === undefined) return 'unknown';
  // A store failure carries what the store threw as its cause; a timeout has none.
  if (error.name === 'StoreUnavailableError') {
    return error.cause instanceof Error ? error.cause.name : 'timeout';
  }
  return error.name;
}

const snake = (value: string): string => value.replaceAll('-', '_');

/** Reported as the instrumentation scope's version. */
const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
