import { ArnFormat, Duration, IgnoreMode, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from './nag-acknowledgements.js';
import { REPO_ROOT } from './airlock-function.js';
import { CONTAINER_PATHS, CONTAINER_PORTS, FLEET_ENV, NLB_PORTS } from './proxy-config.js';

/** Proxy metrics (CloudWatch EMF, namespace `Airlock`, dimension `Service=proxy`); see docs/deploy.md. */
export const PROXY_METRICS = {
  namespace: 'Airlock',
  dimensions: { Service: 'proxy' },
  activeSessions: 'ActiveSessions',
  sessionsOpened: 'SessionsOpened',
  statements: 'Statements',
  refusals: 'Refusals',
  approvalsPending: 'ApprovalsPending',
  auditLagMs: 'AuditLagMs',
} as const;

/**
 * The image build context as an allow-list (Docker ignore syntax, the same as .dockerignore): only
 * what the Dockerfile copies. A docs, test or CDK edit leaves the asset hash, so the fleet, alone.
 */
export const IMAGE_CONTEXT = [
  '*',
  '!package.json', '!package-lock.json', '!tsconfig.json',
  '!core/', '!fargate-proxy/', '!policies/',
  '**/node_modules', '**/*.md', 'fargate-proxy/bin',
];

/** Any HTTP answer from the health listener: the process is alive (see the health checks below). */
export const LIVENESS_HTTP_CODES = '200-599';

/** Addresses that mean "anyone": allowed as client CIDRs only with TLS on the listeners. */
export const OPEN_CIDRS = ['0.0.0.0/0', '::/0'];

export interface ProxyFleetProps {
  vpc: ec2.IVpc;
  taskSubnets: ec2.SubnetSelection;
  key: kms.IKey;
  logRetention: logs.RetentionDays;
  /** The rendered proxy configuration (references only, no secret values). */
  config: Record<string, unknown>;
  /** Plain environment for the adapters: table, bucket and state machine names. */
  environment: Record<string, string>;
  /** Secret holding the listeners' certificate: JSON `{ "cert": PEM, "key": PEM }`. */
  listenerTlsSecret?: secretsmanager.ISecret;
  /**
   * Secret whose whole value is the gateway's SSH host key (OpenSSH or PEM private key). Without it
   * nothing listens for SSH, so the NLB gets no SSH listener and the tasks no SSH port.
   */
  sshHostKeySecret?: secretsmanager.ISecret;
  /** HTTP targets are registered: the HTTP engine listens and the NLB forwards 443 to it. */
  http?: boolean;
  /** Kubernetes targets are registered: the Kubernetes engine listens and the NLB forwards 6443 to it. */
  kubernetes?: boolean;
  /** Agents reach the NLB from the Internet. Default false: internal. */
  internetFacing?: boolean;
  /** Who may connect to the listeners. Default: the VPC CIDR. `0.0.0.0/0` needs `listenerTlsSecret`. */
  allowedClientCidrs?: string[];
  /**
   * Where the proxy may open connections to targets: TCP to these ports on `targetCidrs`
   * (default: the VPC CIDR). HTTPS (443) to anywhere is always allowed: AWS APIs and the issuer's JWKS.
   */
  upstreamPorts?: number[];
  targetCidrs?: string[];
  /** Idle time before the NLB drops a quiet connection (a statement held for approval is quiet). Default 1 hour. */
  idleTimeout?: Duration;
  /** How long a stopping task keeps serving its open sessions before it is replaced. Default 15 minutes. */
  drainTime?: Duration;
  minTasks?: number;
  maxTasks?: number;
  cpu?: number;
  memoryLimitMiB?: number;
  /** Scale out above this many sessions per task. Default 200. */
  sessionsPerTask?: number;
}

/**
 * The data plane: an NLB with TCP listeners (PostgreSQL, SSH, HTTPS) in front of a Fargate service
 * built from fargate-proxy/Dockerfile. TCP pass-through keeps the protocols end to end; the proxy
 * itself terminates them.
 */
export class ProxyFleet extends Construct {
  readonly cluster: ecs.Cluster;
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  /** The tasks' group: allow it on the targets. */
  readonly securityGroup: ec2.SecurityGroup;
  readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  readonly targetGroups: elbv2.NetworkTargetGroup[] = [];
  readonly logGroup: logs.LogGroup;
  readonly taskRole: iam.IRole;
  /**
   * Which task holds which fleet tag, and where it listens (fargate-proxy/src/adapters/aws/fleet-registry.ts):
   * a PostgreSQL cancel the NLB hands to any task reaches the task holding the session.
   */
  readonly registry: dynamodb.Table;

  constructor(scope: Construct, id: string, props: ProxyFleetProps) {
    super(scope, id);
    const idleTimeout = props.idleTimeout ?? Duration.hours(1);
    const drainTime = props.drainTime ?? Duration.minutes(15);

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.registry = new dynamodb.Table(this, 'Registry', {
      partitionKey: { name: 'tag', type: dynamodb.AttributeType.NUMBER },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'ttl',
      // Live membership only: a replacement table is filled again by the tasks' next heartbeats.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // One gateway process per vCPU (`processes` in the proxy's configuration): a Node.js process uses
    // one core, so a larger task with one process would leave the rest idle (and never reach the CPU
    // scaling target). Memory by default 2 GiB per process, a size Fargate accepts for each CPU size.
    const cpu = props.cpu ?? 1024;
    const processes = Math.max(1, Math.floor(cpu / 1024));
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu,
      memoryLimitMiB: props.memoryLimitMiB ?? 2048 * processes,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      volumes: [{ name: 'config' }, { name: 'tmp' }],
    });
    this.taskRole = this.taskDefinition.taskRole;
    // Claim, heartbeat and give back its own tag (conditional puts and deletes); read others' entries.
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
        resources: [this.registry.tableArn],
      }),
    );
    props.key.grantEncryptDecrypt(this.taskRole);
    // Scale-in protection while the task holds sessions: the ECS agent calls these with the task role.
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:UpdateTaskProtection', 'ecs:GetTaskProtection'],
        resources: [Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME })],
      }),
    );
    {
      const stack = Stack.of(this);
      const literal = (v: string, token: string) => (Token.isUnresolved(v) ? token : v);
      const clusterId = stack.resolve(stack.getLogicalId(this.cluster.node.defaultChild as ecs.CfnCluster)) as string;
      acknowledge(
        this.taskRole,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:${literal(stack.region, '<AWS::Region>')}:${literal(stack.account, '<AWS::AccountId>')}:task/<${clusterId}>/*]`,
        'Task ids are assigned at run time; the grant is task protection on this cluster\'s tasks only (each task sets its own through the ECS agent)',
      );
    }
    const ssh = props.sshHostKeySecret !== undefined;
    // Which engines listen: each gets a container port, an NLB listener and a target group.
    const served: Record<keyof typeof NLB_PORTS, boolean> = { postgres: true, console: true, ssh, http: props.http ?? false, kubernetes: props.kubernetes ?? false };
    const containerPorts = [
      ...(Object.keys(NLB_PORTS) as (keyof typeof NLB_PORTS)[]).filter((k) => served[k]).map((k) => CONTAINER_PORTS[k]),
      CONTAINER_PORTS.health,
    ];
    const secrets: Record<string, ecs.Secret> = {};
    if (props.listenerTlsSecret) {
      secrets.AIRLOCK_TLS_CERT = ecs.Secret.fromSecretsManager(props.listenerTlsSecret, 'cert');
      secrets.AIRLOCK_TLS_KEY = ecs.Secret.fromSecretsManager(props.listenerTlsSecret, 'key');
    }
    if (props.sshHostKeySecret) {
      secrets.AIRLOCK_SSH_HOST_KEY = ecs.Secret.fromSecretsManager(props.sshHostKeySecret);
    }

    const container = this.taskDefinition.addContainer('proxy', {
      image: ecs.ContainerImage.fromAsset(REPO_ROOT, {
        file: 'fargate-proxy/Dockerfile',
        exclude: IMAGE_CONTEXT,
        ignoreMode: IgnoreMode.DOCKER,
        // The task runs on Graviton: build for it whatever the deploying host is (docs/deploy.md).
        platform: Platform.LINUX_ARM64,
      }),
      readonlyRootFilesystem: true,
      user: '10001:10001',
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'proxy', logGroup: this.logGroup }),
      environment: {
        ...props.environment,
        [FLEET_ENV.table]: this.registry.tableName,
        AIRLOCK_CONFIG: Stack.of(this).toJsonString(processes > 1 ? { ...props.config, processes } : props.config),
        AIRLOCK_METRICS_NAMESPACE: PROXY_METRICS.namespace,
        // The gateway drains for this long on SIGTERM, inside the 120 s stop timeout below.
        AIRLOCK_DRAIN_SECONDS: '110',
        NODE_ENV: 'production',
      },
      secrets: Object.keys(secrets).length > 0 ? secrets : undefined,
      // The root filesystem is read-only: the rendered config, certificate and host key go to a
      // task-scoped volume, and leave the environment before the gateway starts.
      entryPoint: ['sh', '-c'],
      command: [
        [
          `mkdir -p ${CONTAINER_PATHS.configDir}/tls ${CONTAINER_PATHS.configDir}/ssh ${CONTAINER_PATHS.dataDir}`,
          `printf '%s' "$AIRLOCK_CONFIG" > ${CONTAINER_PATHS.config}`,
          ...(props.listenerTlsSecret
            ? [
                `printf '%s' "$AIRLOCK_TLS_CERT" > ${CONTAINER_PATHS.tlsCert}`,
                `(umask 077 && printf '%s' "$AIRLOCK_TLS_KEY" > ${CONTAINER_PATHS.tlsKey})`,
              ]
            : []),
          ...(ssh ? [`(umask 077 && printf '%s' "$AIRLOCK_SSH_HOST_KEY" > ${CONTAINER_PATHS.sshHostKey})`] : []),
          `exec env -u AIRLOCK_CONFIG -u AIRLOCK_TLS_CERT -u AIRLOCK_TLS_KEY -u AIRLOCK_SSH_HOST_KEY node dist/fargate-proxy/src/cli/main.js serve --config ${CONTAINER_PATHS.config}`,
        ].join(' && '),
      ],
      // Liveness, not readiness: any HTTP answer means the process is alive. /healthz says 503
      // while the audit store is unreachable; ECS replacing every task during a DynamoDB brownout
      // would only add restarts to the outage (the tasks refuse statements meanwhile: fail closed).
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${CONTAINER_PORTS.health}/healthz').then(()=>process.exit(0),()=>process.exit(1))`,
        ],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      // Fargate's ceiling: SIGTERM starts the gateway's own drain, SIGKILL follows after this.
      stopTimeout: Duration.seconds(120),
      portMappings: containerPorts.map((containerPort) => ({ containerPort })),
    });
    acknowledge(
      this.taskDefinition,
      'AwsSolutions-ECS2',
      'The environment holds resource names and a configuration of references only; credentials, the TLS key and the SSH host key arrive as ECS secrets',
    );
    acknowledge(
      this.taskDefinition,
      'CloudFormation-Validate::E1029',
      'The `${env:NAME}` strings in AIRLOCK_CONFIG are expanded by the proxy from its own environment at start-up, not by CloudFormation',
    );
    if (this.taskDefinition.executionRole) {
      acknowledge(
        this.taskDefinition.executionRole,
        'AwsSolutions-IAM5[Resource::*]',
        'ecr:GetAuthorizationToken has no resource-level permission; image pulls are scoped to the asset repository',
      );
    }
    container.addMountPoints(
      { sourceVolume: 'config', containerPath: CONTAINER_PATHS.configDir, readOnly: false },
      { sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false },
    );

    const clientCidrs = props.allowedClientCidrs ?? [props.vpc.vpcCidrBlock];
    const openToAll = clientCidrs.some((c) => OPEN_CIDRS.includes(c));
    if (openToAll && !props.listenerTlsSecret) {
      throw new Error(
        `allowedClientCidrs includes ${clientCidrs.filter((c) => OPEN_CIDRS.includes(c)).join(', ')} but the listeners have no TLS certificate: ` +
          'tokens would cross the Internet in clear. Set listenerTlsSecretArn, or narrow allowedClientCidrs (docs/deploy.md).',
      );
    }
    if (props.internetFacing && !props.listenerTlsSecret) {
      throw new Error('internetFacing: true needs listenerTlsSecretArn: agents\' tokens must not cross the Internet in clear (docs/deploy.md)');
    }

    // Two groups: the NLB's decides who may connect (client CIDRs on the listener ports); the
    // tasks' admits only the NLB (targets may reference the NLB's group even with client IPs
    // preserved) and leaves only for what the proxy needs.
    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'NlbSecurityGroup', {
      vpc: props.vpc,
      description: 'Airlock NLB: agents from the allowed client CIDRs on the listener ports',
      allowAllOutbound: false,
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: props.vpc,
      description: 'Airlock proxy tasks: listeners and health checks from the NLB; egress to targets and HTTPS',
      allowAllOutbound: false,
    });
    acknowledge(
      this.loadBalancerSecurityGroup,
      'AwsSolutions-EC23',
      openToAll
        ? 'Open to any address by explicit choice (allowedClientCidrs); synth refuses this without TLS on the listeners, and every connection must present a valid OIDC token'
        : 'Ingress is limited to the VPC CIDR (an intrinsic cdk-nag cannot evaluate) or the explicitly configured client CIDRs',
    );

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.minTasks ?? 2,
      assignPublicIp: false,
      vpcSubnets: props.taskSubnets,
      securityGroups: [this.securityGroup],
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      enableExecuteCommand: false,
    });

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'Nlb', {
      vpc: props.vpc,
      internetFacing: props.internetFacing ?? false,
      vpcSubnets: props.internetFacing ? { subnetType: ec2.SubnetType.PUBLIC } : props.taskSubnets,
      crossZoneEnabled: true,
      // The gateway's DNS name is in every agent's configuration: deleting it is a deliberate act.
      deletionProtection: true,
      securityGroups: [this.loadBalancerSecurityGroup],
    });
    acknowledge(
      this.loadBalancer,
      'AwsSolutions-ELB2',
      'TCP pass-through listeners only: NLB access logs record TLS listeners only; connections are in VPC flow logs and every session in the audit trail',
    );

    const names: Record<keyof typeof NLB_PORTS, string> = { postgres: 'Postgres', ssh: 'Ssh', http: 'Http', console: 'Console', kubernetes: 'Kubernetes' };
    const listeners = (Object.keys(NLB_PORTS) as (keyof typeof NLB_PORTS)[])
      .filter((k) => served[k])
      .map((k) => [names[k], NLB_PORTS[k], CONTAINER_PORTS[k]] as const);
    for (const [name, port, containerPort] of listeners) {
      const listener = this.loadBalancer.addListener(name, {
        port,
        protocol: elbv2.Protocol.TCP,
        tcpIdleTimeout: idleTimeout,
      });
      const targetGroup = listener.addTargets(name, {
        port: containerPort,
        protocol: elbv2.Protocol.TCP,
        targets: [
          this.service.loadBalancerTarget({ containerName: container.containerName, containerPort }),
        ],
        // Deregistration stops new connections while open sessions run on until the drain time
        // (connection termination at deregistration stays off, the NLB default).
        deregistrationDelay: drainTime,
        preserveClientIp: true,
        // Liveness, as the container's check: ECS replaces tasks the NLB finds unhealthy, so a
        // 503 from /healthz (audit store unreachable, a readiness fact the AuditLag alarm reports)
        // must not count. A task that does not answer at all is taken out and replaced.
        healthCheck: {
          protocol: elbv2.Protocol.HTTP,
          port: String(CONTAINER_PORTS.health),
          path: '/healthz',
          healthyHttpCodes: LIVENESS_HTTP_CODES,
          interval: Duration.seconds(10),
          healthyThresholdCount: 2,
          unhealthyThresholdCount: 2,
        },
      });
      this.targetGroups.push(targetGroup);
      for (const cidr of clientCidrs) {
        this.loadBalancerSecurityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), `agents on ${name}`);
      }
      this.allowFromLoadBalancer(containerPort, `${name} from the NLB`);
    }
    this.allowFromLoadBalancer(CONTAINER_PORTS.health, 'NLB health checks');
    // A task forwards PostgreSQL cancels for sessions another task holds to that task, directly.
    this.securityGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(CONTAINER_PORTS.postgres), 'PostgreSQL cancels forwarded between tasks');
    this.securityGroup.addEgressRule(this.securityGroup, ec2.Port.tcp(CONTAINER_PORTS.postgres), 'PostgreSQL cancels forwarded between tasks');

    // Egress: HTTPS anywhere (AWS APIs through the VPC endpoints or NAT, the issuer's JWKS), and
    // the targets' ports to where targets live; nothing else leaves a task.
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs and the identity provider (HTTPS)');
    for (const port of [...new Set(props.upstreamPorts ?? [])].filter((p) => p !== 443)) {
      for (const cidr of props.targetCidrs ?? [props.vpc.vpcCidrBlock]) {
        this.securityGroup.addEgressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), `targets on ${port}`);
      }
    }

    const scaling = this.service.autoScaleTaskCount({
      minCapacity: props.minTasks ?? 2,
      maxCapacity: props.maxTasks ?? 10,
    });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: 60,
      scaleInCooldown: Duration.minutes(10),
      scaleOutCooldown: Duration.minutes(1),
    });
    // Each gateway process emits its own ActiveSessions: their average is per process.
    scaling.scaleToTrackCustomMetric('Sessions', {
      metric: this.metric(PROXY_METRICS.activeSessions, 'Average'),
      targetValue: Math.max(1, Math.round((props.sessionsPerTask ?? 200) / processes)),
      scaleInCooldown: Duration.minutes(10),
      scaleOutCooldown: Duration.minutes(1),
    });
  }

  private allowFromLoadBalancer(port: number, description: string): void {
    this.securityGroup.addIngressRule(this.loadBalancerSecurityGroup, ec2.Port.tcp(port), description);
    this.loadBalancerSecurityGroup.addEgressRule(this.securityGroup, ec2.Port.tcp(port), description);
  }

  metric(name: string, statistic: string, period = Duration.minutes(1)): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: PROXY_METRICS.namespace,
      metricName: name,
      dimensionsMap: PROXY_METRICS.dimensions,
      statistic,
      period,
    });
  }
}
