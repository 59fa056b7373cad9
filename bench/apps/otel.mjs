/**
 * Tollgate's events through the OpenTelemetry metrics SDK, as an app that exports its metrics
 * would run it: a `MeterProvider` with a periodic reader. The exporter keeps the data in memory
 * and its interval is longer than a run, so the rows measure recording on the request path, not
 * an export's network I/O.
 */
import { SkipTarget } from './skip.mjs';

export async function tollgateMetrics() {
  let otel;
  try {
    otel = await import('tollgate/otel');
  } catch (error) {
    if (error?.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
      throw new SkipTarget('the built library has no tollgate/otel entry point yet');
    }
    throw error;
  }
  const {
    AggregationTemporality,
    InMemoryMetricExporter,
    MeterProvider,
    PeriodicExportingMetricReader,
  } = await import('@opentelemetry/sdk-metrics');
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 60_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  return otel.openTelemetryEvents({ meterProvider });
}
