import type { Attributes } from '@opentelemetry/api';
import {
  DataPointType,
  MeterProvider,
  MetricReader,
  type HistogramMetricData,
  type MetricData,
} from '@opentelemetry/sdk-metrics';

/**
 * The OpenTelemetry metrics SDK as an application registers it, with a reader the test collects
 * from on demand instead of an exporter on a timer.
 */
export class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}

  /** Every metric the SDK holds now, by name (cumulative since the provider started). */
  async metrics(): Promise<Map<string, MetricData>> {
    const { resourceMetrics, errors } = await this.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    const byName = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    }
    return byName;
  }
}

export function meterProviderWithReader(): { provider: MeterProvider; reader: CollectingReader } {
  const reader = new CollectingReader();
  return { provider: new MeterProvider({ readers: [reader] }), reader };
}

/** A counter's value summed over the data points whose attributes include `match`. */
export function counterValue(metric: MetricData | undefined, match: Attributes): number {
  if (!metric) return 0;
  if (metric.dataPointType !== DataPointType.SUM) throw new Error('not a counter');
  let total = 0;
  for (const point of metric.dataPoints) {
    if (matches(point.attributes, match)) total += point.value;
  }
  return total;
}

/** How many values a histogram recorded over the data points whose attributes include `match`. */
export function histogramCount(metric: MetricData | undefined, match: Attributes): number {
  if (!metric) return 0;
  if (metric.dataPointType !== DataPointType.HISTOGRAM) throw new Error('not a histogram');
  let count = 0;
  for (const point of (metric as HistogramMetricData).dataPoints) {
    if (matches(point.attributes, match)) count += point.value.count;
  }
  return count;
}

function matches(attributes: Attributes, match: Attributes): boolean {
  return Object.entries(match).every(([name, value]) => attributes[name] === value);
}
