// The proxy's operational metrics, emitted as one EMF line per interval. Names and the dimension
// are the contract with lib/proxy-fleet.ts (PROXY_METRICS): alarms and scaling read exactly these.
import { emfLine, type MetricDatum } from './emf.js';
import type { SessionActivity } from './counting-audit-sink.js';

export const METRIC_NAMES = {
  activeSessions: 'ActiveSessions',
  sessionsOpened: 'SessionsOpened',
  statements: 'Statements',
  refusals: 'Refusals',
  approvalsPending: 'ApprovalsPending',
  auditLagMs: 'AuditLagMs',
} as const;

export const METRIC_DIMENSIONS = { Service: 'proxy' } as const;

export interface ProxyMetricSources {
  /** Counters since the previous emission (the source resets them). */
  takeActivity(): SessionActivity;
  /** Live sessions, every protocol. */
  activeSessions(): number;
  approvalsPending(): number | Promise<number>;
  /** Age of the oldest audit event the remote store has not acknowledged; 0 when none. */
  auditLagMs(): number;
}

export interface MetricsPublisherOptions {
  namespace: string;
  intervalMs: number;
  sources: ProxyMetricSources;
  /** Where lines go; default stdout, where the awslogs driver picks them up. */
  write?: (line: string) => void;
  now?: () => number;
  onError?: (err: unknown) => void;
}

export interface MetricsPublisher {
  /** Emits a line now (counters since the last one). */
  emit(): Promise<void>;
  /** Stops the interval and emits the counts gathered since the last line, so none are lost. */
  close(): Promise<void>;
}

export async function collectMetrics(sources: ProxyMetricSources): Promise<MetricDatum[]> {
  // Read the gauges before taking the counters: a slow pending-approvals read cannot push counts into the next interval's reset.
  const pending = await sources.approvalsPending();
  const activity = sources.takeActivity();
  return [
    { name: METRIC_NAMES.activeSessions, unit: 'Count', value: sources.activeSessions() },
    { name: METRIC_NAMES.sessionsOpened, unit: 'Count', value: activity.sessionsOpened },
    { name: METRIC_NAMES.statements, unit: 'Count', value: activity.statements },
    { name: METRIC_NAMES.refusals, unit: 'Count', value: activity.refusals },
    { name: METRIC_NAMES.approvalsPending, unit: 'Count', value: pending },
    { name: METRIC_NAMES.auditLagMs, unit: 'Milliseconds', value: Math.max(0, sources.auditLagMs()) },
  ];
}

export function startMetricsPublisher(o: MetricsPublisherOptions): MetricsPublisher {
  const write = o.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const now = o.now ?? Date.now;
  let emitting: Promise<void> = Promise.resolve();
  let closed = false;

  const emitOnce = async (): Promise<void> => {
    try {
      const metrics = await collectMetrics(o.sources);
      write(emfLine({ namespace: o.namespace, dimensions: METRIC_DIMENSIONS, metrics, timestamp: now() }));
    } catch (err) {
      o.onError?.(err);
    }
  };
  // One emission at a time, so two lines never split one interval's counters out of order.
  const emit = (): Promise<void> => (emitting = emitting.then(emitOnce));

  const timer = setInterval(() => void emit(), o.intervalMs);
  timer.unref();
  return {
    emit,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await emit();
    },
  };
}
