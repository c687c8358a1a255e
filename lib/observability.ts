import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { ApprovalWorkflow } from './approval-workflow.js';
import type { AirlockFunction } from './airlock-function.js';
import { PROXY_METRICS, type ProxyFleet } from './proxy-fleet.js';

export interface ObservabilityProps {
  fleet: ProxyFleet;
  approvals: ApprovalWorkflow;
  functions: AirlockFunction[];
  key: kms.IKey;
  /** Who hears alarms. */
  alarmEmails?: string[];
  /** Alarm when the oldest unwritten audit event is older than this. Default 30 s. */
  auditLagThreshold?: Duration;
}

/** One dashboard and the alarms an operator must hear about, all sent to one topic. */
export class Observability extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { fleet, approvals } = props;
    this.alarmTopic = new sns.Topic(this, 'Alarms', { displayName: 'Airlock alarms', masterKey: props.key, enforceSSL: true });
    for (const email of props.alarmEmails ?? []) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(email));

    const m = (name: string, stat: string) => fleet.metric(name, stat);
    const auditLag = m(PROXY_METRICS.auditLagMs, 'Maximum');
    const unhealthy = new cloudwatch.MathExpression({
      label: 'Unhealthy targets (max over listeners)',
      expression: `MAX([${fleet.targetGroups.map((_, i) => `u${i}`).join(',')}])`,
      usingMetrics: Object.fromEntries(
        fleet.targetGroups.map((tg, i) => [`u${i}`, tg.metrics.unHealthyHostCount({ statistic: 'Maximum' })]),
      ),
      period: Duration.minutes(1),
    });

    // Missing data breaches: a fleet that stopped reporting its lag is no proof the trail is flowing.
    this.alarm('AuditLag', auditLag, (props.auditLagThreshold ?? Duration.seconds(30)).toMilliseconds(), 3,
      'Audit events are not reaching the store, or the fleet stopped reporting: statements will stall (no audit path, no forward)',
      cloudwatch.TreatMissingData.BREACHING);
    // Container Insights: fewer tasks running than the service wants (crash loop, capacity, image pull).
    const running = new cloudwatch.MathExpression({
      label: 'Desired minus running tasks',
      expression: 'desired - running',
      usingMetrics: {
        desired: new cloudwatch.Metric({ namespace: 'ECS/ContainerInsights', metricName: 'DesiredTaskCount', dimensionsMap: { ClusterName: fleet.cluster.clusterName, ServiceName: fleet.service.serviceName }, statistic: 'Minimum' }),
        running: new cloudwatch.Metric({ namespace: 'ECS/ContainerInsights', metricName: 'RunningTaskCount', dimensionsMap: { ClusterName: fleet.cluster.clusterName, ServiceName: fleet.service.serviceName }, statistic: 'Minimum' }),
      },
      period: Duration.minutes(1),
    });
    this.alarm('TasksMissing', running, 0, 5, 'Fewer proxy tasks run than desired for 5 minutes (crash loop, capacity or image pull)', cloudwatch.TreatMissingData.BREACHING);
    this.alarm('UnhealthyTargets', unhealthy, 0, 3, 'A proxy task fails its health check');
    this.alarm('FleetCpu', fleet.service.metricCpuUtilization({ statistic: 'Average' }), 85, 5, 'Proxy CPU stays high despite scaling');
    this.alarm('ApprovalWorkflowFailed', approvals.stateMachine.metricFailed({ statistic: 'Sum' }), 0, 1,
      'An approval workflow failed (not expired, not denied): a held statement got no answer');
    for (const fn of props.functions) {
      this.alarm(`${fn.node.id}Errors`, fn.function.metricErrors({ statistic: 'Sum' }), 0, 1, `Lambda ${fn.node.path} errors`);
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []) =>
      new cloudwatch.GraphWidget({ title, left, right, width: 8, height: 6 });
    this.dashboard.addWidgets(
      graph('Sessions', [m(PROXY_METRICS.activeSessions, 'Sum')], [m(PROXY_METRICS.sessionsOpened, 'Sum')]),
      graph('Statements and refusals', [m(PROXY_METRICS.statements, 'Sum')], [m(PROXY_METRICS.refusals, 'Sum')]),
      graph('Audit lag (ms)', [auditLag]),
    );
    this.dashboard.addWidgets(
      graph('Fleet CPU / memory', [fleet.service.metricCpuUtilization()], [fleet.service.metricMemoryUtilization()]),
      graph('NLB flows', [fleet.loadBalancer.metrics.activeFlowCount()], [fleet.loadBalancer.metrics.newFlowCount()]),
      graph('Unhealthy targets', [unhealthy]),
    );
    this.dashboard.addWidgets(
      graph('Approval workflows', [
        approvals.stateMachine.metricStarted(),
        approvals.stateMachine.metricSucceeded(),
        approvals.stateMachine.metricFailed(),
      ]),
      graph('Lambda errors', props.functions.map((fn) => fn.function.metricErrors({ label: fn.node.id }))),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 8, height: 6 }),
    );
  }

  private alarm(
    id: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    periods: number,
    description: string,
    treatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
  ): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: periods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.alarmTopic));
    this.alarms.push(alarm);
  }
}
