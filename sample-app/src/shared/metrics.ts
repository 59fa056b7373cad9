import type { IncomingMessage, ServerResponse } from 'node:http';

import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { TollgateEvent } from 'tollgate';
import { openTelemetryEvents } from 'tollgate/otel';

/**
 * Tollgate's events as OpenTelemetry metrics, scraped by Prometheus at `/metrics` on the sample's
 * own port: the SDK's `MeterProvider` with the Prometheus exporter as its reader, and
 * `openTelemetryEvents()` recording into it.
 */
export interface SampleMetrics {
  /** The sample's `onEvent`. */
  onEvent: (event: TollgateEvent) => void;
  /** Answers `GET /metrics` in the Prometheus text format. */
  serve(request: IncomingMessage, response: ServerResponse): void;
  shutdown(): Promise<void>;
}

/** `OTEL_METRICS=prometheus` turns the metrics on; anything else (or nothing) leaves them off. */
export function metricsFromEnv(env: NodeJS.ProcessEnv): SampleMetrics | undefined {
  if (env.OTEL_METRICS !== 'prometheus') return undefined;
  // The sample serves the scrape itself, on its own port: no second server to open.
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [exporter] });
  return {
    onEvent: openTelemetryEvents({ meterProvider: provider }),
    serve: (request, response) => exporter.getMetricsRequestHandler(request, response),
    shutdown: () => provider.shutdown(),
  };
}
