// CloudWatch Embedded Metric Format: one JSON log line that CloudWatch Logs turns into metrics.
// Written by hand rather than with @aws-lambda-powertools/metrics because Powertools always adds
// its own `service` dimension, and the fleet's alarms and scaling (lib/proxy-fleet.ts) read the
// metrics under exactly one dimension, Service=proxy.

export type MetricUnit = 'Count' | 'Milliseconds';

export interface MetricDatum {
  name: string;
  unit: MetricUnit;
  value: number;
}

export interface EmfRecord {
  namespace: string;
  /** Dimension names and values; every metric of the line is published under this one set. */
  dimensions: Record<string, string>;
  metrics: MetricDatum[];
  /** Milliseconds since epoch. */
  timestamp: number;
}

/** The record as one line of JSON (no trailing newline). */
export function emfLine(r: EmfRecord): string {
  const document: Record<string, unknown> = {
    _aws: {
      Timestamp: r.timestamp,
      CloudWatchMetrics: [
        {
          Namespace: r.namespace,
          Dimensions: [Object.keys(r.dimensions)],
          Metrics: r.metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
        },
      ],
    },
    ...r.dimensions,
  };
  // CloudWatch rejects the whole line on a non-finite value; a broken gauge reads as 0 instead.
  for (const m of r.metrics) document[m.name] = Number.isFinite(m.value) ? m.value : 0;
  return JSON.stringify(document);
}
