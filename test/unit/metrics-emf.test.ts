// The metric lines CloudWatch reads: Embedded Metric Format, the names and dimension the fleet's
// alarms and scaling policy (lib/proxy-fleet.ts) expect, counters per interval, a last line at close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emfLine } from '../../fargate-proxy/src/metrics/emf.js';
import { METRIC_DIMENSIONS, METRIC_NAMES, startMetricsPublisher, type ProxyMetricSources } from '../../fargate-proxy/src/metrics/proxy-metrics.js';
import type { SessionActivity } from '../../fargate-proxy/src/metrics/counting-audit-sink.js';

test('an EMF line declares its metrics under one dimension set and carries their values at the top level', () => {
  const line = emfLine({
    namespace: 'Airlock',
    dimensions: { Service: 'proxy' },
    timestamp: 1767225600000,
    metrics: [
      { name: 'ActiveSessions', unit: 'Count', value: 3 },
      { name: 'AuditLagMs', unit: 'Milliseconds', value: 1250 },
      { name: 'Broken', unit: 'Count', value: Number.NaN },
    ],
  });
  assert.ok(!line.includes('\n'), 'one line');
  assert.deepEqual(JSON.parse(line), {
    _aws: {
      Timestamp: 1767225600000,
      CloudWatchMetrics: [
        {
          Namespace: 'Airlock',
          Dimensions: [['Service']],
          Metrics: [
            { Name: 'ActiveSessions', Unit: 'Count' },
            { Name: 'AuditLagMs', Unit: 'Milliseconds' },
            { Name: 'Broken', Unit: 'Count' },
          ],
        },
      ],
    },
    Service: 'proxy',
    ActiveSessions: 3,
    AuditLagMs: 1250,
    Broken: 0,
  });
});

test('the proxy emits exactly the metrics the CDK stack alarms and scales on', async () => {
  // Imported here: aws-cdk-lib is slow to load and only this test needs it.
  const { PROXY_METRICS } = await import('../../lib/proxy-fleet.js');
  const { namespace, dimensions, ...names } = PROXY_METRICS;
  assert.deepEqual(METRIC_DIMENSIONS, dimensions);
  assert.deepEqual(Object.values(METRIC_NAMES).sort(), Object.values(names).sort());
  assert.equal(namespace, 'Airlock');
});

function sources(): ProxyMetricSources & { activity: SessionActivity; active: number; pending: number; lag: number } {
  const s = {
    activity: { sessionsOpened: 0, statements: 0, refusals: 0 },
    active: 0,
    pending: 0,
    lag: 0,
    takeActivity() {
      const taken = s.activity;
      s.activity = { sessionsOpened: 0, statements: 0, refusals: 0 };
      return taken;
    },
    activeSessions: () => s.active,
    approvalsPending: async () => s.pending,
    auditLagMs: () => s.lag,
  };
  return s;
}

test('one line per emission: gauges as they are, counters since the previous line, and a last line at close', async () => {
  const lines: Record<string, unknown>[] = [];
  const src = sources();
  const publisher = startMetricsPublisher({ namespace: 'Airlock-Test', intervalMs: 3_600_000, sources: src, write: (l) => lines.push(JSON.parse(l)), now: () => 42 });
  src.activity = { sessionsOpened: 2, statements: 7, refusals: 1 };
  src.active = 2;
  src.pending = 1;
  src.lag = 900;
  await publisher.emit();
  src.activity.statements = 3;
  await publisher.close();
  await publisher.close(); // idempotent: no third line

  assert.equal(lines.length, 2);
  const values = (l: Record<string, unknown>) => Object.fromEntries(Object.values(METRIC_NAMES).map((n) => [n, l[n]]));
  assert.deepEqual(values(lines[0]!), { ActiveSessions: 2, SessionsOpened: 2, Statements: 7, Refusals: 1, ApprovalsPending: 1, AuditLagMs: 900 });
  assert.deepEqual(values(lines[1]!), { ActiveSessions: 2, SessionsOpened: 0, Statements: 3, Refusals: 0, ApprovalsPending: 1, AuditLagMs: 900 });
  const meta = (lines[0]!._aws as { Timestamp: number; CloudWatchMetrics: { Namespace: string; Metrics: { Name: string; Unit: string }[] }[] });
  assert.equal(meta.Timestamp, 42);
  assert.equal(meta.CloudWatchMetrics[0]!.Namespace, 'Airlock-Test');
  assert.equal(meta.CloudWatchMetrics[0]!.Metrics.find((m) => m.Name === 'AuditLagMs')!.Unit, 'Milliseconds');
  assert.equal(lines[0]!.Service, 'proxy');
});

test('the interval drives emissions, and a failing source is reported without stopping them', async () => {
  const lines: string[] = [];
  const errors: unknown[] = [];
  const src = sources();
  let fail = true;
  src.approvalsPending = async () => {
    if (fail) throw new Error('approval store unreachable');
    return 0;
  };
  const publisher = startMetricsPublisher({ namespace: 'Airlock', intervalMs: 20, sources: src, write: (l) => lines.push(l), onError: (e) => errors.push(e) });
  try {
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(errors.length > 0);
    fail = false;
    for (let i = 0; i < 100 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(lines.length >= 2, `${lines.length} lines`);
  } finally {
    await publisher.close();
  }
});
