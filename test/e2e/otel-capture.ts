import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

import { SpanKind } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { expect, it } from 'vitest';

/**
 * Shared by the two OpenTelemetry suites, which differ only in when tracing starts: before
 * Tollgate wraps `ServerResponse.prototype`, or after. Each suite is its own test file, so each
 * runs in a fresh process where that order is real. This file imports neither Tollgate nor a
 * framework, so importing it starts nothing; the apps live in `otel-apps.ts`, imported when a
 * suite is ready for them.
 */

export interface Tracing {
  /** Server spans ended so far. */
  serverSpans(): ReadableSpan[];
  stop(): Promise<void>;
}

/** Starts tracing as an APM agent does: a tracer provider, then HTTP instrumentation. */
export function startTracing(): Tracing {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
  const instrumentation = new HttpInstrumentation();
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  // The instrumentation patches `http` when it is next required, as an agent loaded with
  // `--require` sees the app's first require. Here the test runner has loaded it already.
  createRequire(import.meta.url)('node:http');
  return {
    serverSpans: () => exporter.getFinishedSpans().filter((span) => span.kind === SpanKind.SERVER),
    async stop() {
      instrumentation.disable();
      await provider.shutdown();
    },
  };
}

/** Serves `listen`'s server on a free loopback port. */
export async function baseUrlOf(server: Server): Promise<string> {
  if (!server.listening) await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export interface RawResult {
  status: number;
  headers: Headers;
  body: Buffer;
}

export async function post(url: string, key: string, body: unknown): Promise<RawResult> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  };
}

/** The headers a replay carries over (Tollgate's default allow-list), plus the body's length. */
const REPLAYED = ['content-type', 'content-length', 'etag', 'location', 'cache-control'];

export interface CaptureTarget {
  /** The app's base URL. */
  url(): string;
  /** How often the handler of `/orders` ran. */
  runs(): number;
}

/**
 * The checks both suites run against each app: the first request is answered and captured, its
 * duplicate gets the same bytes and headers without running the handler, and every request left
 * a server span.
 */
export function capturesUnderTracing(tracing: () => Tracing, target: CaptureTarget): void {
  it('replays the exact bytes and headers of the first response, and each request has its span', async () => {
    const key = crypto.randomUUID();
    const before = target.runs();
    const spansBefore = tracing().serverSpans().length;
    const payload = { item: 'crème brûlée ☕', quantity: 2 };

    const first = await post(`${target.url()}/orders`, key, payload);
    const duplicate = await post(`${target.url()}/orders`, key, payload);

    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(duplicate.status).toBe(201);
    expect(duplicate.headers.get('idempotent-replayed')).toBe('true');
    expect(duplicate.body.equals(first.body)).toBe(true);
    expect(JSON.parse(first.body.toString('utf8'))).toMatchObject({ item: payload.item });
    for (const name of REPLAYED) expect(duplicate.headers.get(name)).toBe(first.headers.get(name));
    expect(first.headers.get('etag')).not.toBeNull();
    expect(target.runs()).toBe(before + 1);

    // A server span ends when its response closes, just after the client has read it.
    await expect.poll(() => tracing().serverSpans().length - spansBefore).toBe(2);
    const spans = tracing().serverSpans().slice(spansBefore);
    for (const span of spans) {
      expect(
        span.attributes['http.response.status_code'] ?? span.attributes['http.status_code'],
      ).toBe(201);
    }
  });

  it('answers a request without a key with the same problem+json bytes each time, and spans it', async () => {
    const spansBefore = tracing().serverSpans().length;
    const ask = (): Promise<Response> =>
      fetch(`${target.url()}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
    const [one, two] = [await ask(), await ask()];
    expect(one.status).toBe(400);
    expect(one.headers.get('content-type')).toBe('application/problem+json');
    expect(await one.text()).toBe(await two.text());
    await expect.poll(() => tracing().serverSpans().length - spansBefore).toBe(2);
  });
}

/**
 * The instrumentation binds each response's `on` and `removeListener` to its trace context, and
 * Tollgate learns through 'close' how a response that never ended went: both rules still hold.
 */
export function closesUnderTracing(target: CaptureTarget): void {
  const attempt = (path: string, key: string): Promise<RawResult | undefined> =>
    post(`${target.url()}${path}`, key, {}).catch(() => undefined);

  it('a response cut off mid-body is recorded as not replayable, and does not run again', async () => {
    const key = crypto.randomUUID();
    const before = target.runs();
    await attempt('/cut-off', key);
    await expect.poll(async () => (await attempt('/cut-off', key))?.status).toBe(409);
    const retry = await post(`${target.url()}/cut-off`, key, {});
    expect(JSON.parse(retry.body.toString('utf8'))).toMatchObject({ reason: 'streamed' });
    expect(target.runs()).toBe(before + 1);
  });

  it('a response destroyed before any byte releases its key, so a retry runs again', async () => {
    const key = crypto.randomUUID();
    const before = target.runs();
    await attempt('/given-up', key);
    await expect
      .poll(async () => (await attempt('/given-up', key), target.runs()))
      .toBe(before + 2);
  });
}
