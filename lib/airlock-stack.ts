import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ApprovalWorkflow } from './approval-workflow.js';
import { DefaultIdentity, REVIEWER_CLIENT_NAME, REVIEWER_SIGN_IN_SCOPE, type IdentitySettings } from './default-identity.js';
import { AuditStore } from './audit-store.js';
import { assertDeployable } from './deploy-checks.js';
import { acknowledgeNagFindings } from './nag-acknowledgements.js';
import { AirlockNetwork, type ExistingVpcAttributes } from './network.js';
import { Observability } from './observability.js';
import { PolicyService } from './policy-service.js';
import { CONSOLE_SIGN_IN_CLIENT_ENV, NLB_PORTS, fromEnv, renderProxyConfig } from './proxy-config.js';
import { ProxyFleet } from './proxy-fleet.js';
import { TargetRegistry, type TargetRegistration } from './target-registry.js';
import { TaskTokenKey } from './task-token-key.js';

export interface AirlockSettings {
  /**
   * OIDC issuer whose access tokens agents and reviewers present. Without it, the stack creates a
   * Cognito user pool for both (lib/default-identity.ts; docs/deploy.md, "Identity provider").
   */
  oidcIssuer?: string;
  /** Accepted audience value(s); required with oidcIssuer. */
  oidcAudience?: string | string[];
  /** The claim holding the audience: `aud` (default), or `client_id` / `scope` for issuers without `aud` in access tokens. */
  audienceClaim?: string;
  /** Claims that must hold exactly these values (e.g. `{ "token_use": "access" }`). */
  requiredClaimValues?: Record<string, string>;
  /** Token claim naming the principal (default `sub`), and the one listing its groups (default `groups`; Cognito: `cognito:groups`). */
  principalClaim?: string;
  groupsClaim?: string | string[];
  /** The issuer's JWKS URL, when it is not published in its discovery document. */
  jwksUri?: string;
  reviewerGroups?: string[];
  /**
   * With oidcIssuer: a public client (authorization code + PKCE) registered at the issuer with the
   * callback `<DecisionEndpoint>signin`; the review page then signs reviewers in at the issuer.
   * Without it, reviewers paste an access token. The stack's own Cognito pool has one by itself.
   */
  reviewerClientId?: string;
  /** Scopes the review page asks for with reviewerClientId. Default `openid`. */
  reviewerSignInScope?: string;
  /**
   * The console's origin as reviewers' browsers reach it (e.g. `https://airlock.example.com:8443`, the
   * name the listeners' certificate is for). With listener TLS, the console signs reviewers in at the
   * issuer and the issuer returns them to `<consoleUrl>/signin`. Default: the NLB's DNS name on 8443.
   */
  consoleUrl?: string;
  reviewerEmails?: string[];
  alarmEmails?: string[];
  targets?: TargetRegistration[];
  existingVpc?: ExistingVpcAttributes;
  natGateways?: number;
  createVpcEndpoints?: boolean;
  internetFacing?: boolean;
  allowedClientCidrs?: string[];
  /** Where targets live: the tasks may connect to the targets' ports there only. Default: the VPC CIDR. */
  targetCidrs?: string[];
  /** Secret `{ "cert", "key" }` (PEM) for the agent-facing listeners; without it they accept plaintext inside the VPC. */
  listenerTlsSecretArn?: string;
  /** Secret whose value is the gateway's SSH host key (private, OpenSSH or PEM); without it there is no SSH listener. */
  sshHostKeySecretArn?: string;
  approvalTimeoutMinutes?: number;
  /** Secret with the Slack app's settings; see docs/deploy.md. */
  slackSecretArn?: string;
  /** Removed: recordings are always Object-Locked for `auditRetentionDays` (a synth error names it). */
  objectLockDays?: number;
  /**
   * How long the audit trail is kept: table items expire (TTL) and recordings are Object-Locked
   * and then expire after this many days. Default 365.
   */
  auditRetentionDays?: number;
  /** Object Lock mode of the recordings bucket: `compliance` (default) or `governance`. Only at first deploy. */
  auditObjectLockMode?: 'compliance' | 'governance';
  /** Policy set baked into the image, used until a bundle is published. */
  policyFile?: string;
  minTasks?: number;
  maxTasks?: number;
  /** Proxy task size in CPU units (1024 = 1 vCPU); one gateway process per vCPU. Default 1024. */
  proxyCpu?: number;
  /** Proxy task memory; default 2048 MiB per vCPU. */
  proxyMemoryMiB?: number;
  logRetentionDays?: logs.RetentionDays;
  /** Approval handler sources, when not the repository's `lambdas/approval-*` folders. */
  approvalHandlerEntries?: { notifier?: string; decision?: string; expire?: string };
}

/** Where a target listens when its registration names no port (HTTP and Kubernetes: 443). */
const DEFAULT_UPSTREAM_PORT: Partial<Record<string, number>> = { postgres: 5432, ssh: 22 };

export interface AirlockStackProps extends StackProps {
  settings: AirlockSettings;
}

/** The whole gateway in one stack: network, audit, policy, approvals, targets, fleet, observability. */
export class AirlockStack extends Stack {
  readonly key: kms.Key;
  readonly network: AirlockNetwork;
  readonly audit: AuditStore;
  readonly policy: PolicyService;
  readonly approvals: ApprovalWorkflow;
  readonly registry: TargetRegistry;
  readonly fleet: ProxyFleet;
  /** Signs agents' task tokens (issue 32): the fleet alone may sign. */
  readonly taskTokens: TaskTokenKey;
  readonly observability: Observability;
  /** The Cognito user pool created when no issuer is given. */
  readonly defaultIdentity?: DefaultIdentity;

  constructor(scope: Construct, id: string, props: AirlockStackProps) {
    super(scope, id, props);
    const s = props.settings;
    assertDeployable(s);
    const logRetention = s.logRetentionDays ?? logs.RetentionDays.ONE_YEAR;

    this.key = new kms.Key(this, 'Key', {
      description: 'Airlock: audit trail, approvals, policy bundles, credentials, logs',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Encrypted log groups and alarm notifications need the services themselves to use the key.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${this.partition}:logs:${this.region}:${this.account}:*` },
        },
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        // Only this account's alarms publishing to the encrypted alarm topic (confused deputy).
        conditions: {
          StringEquals: { 'aws:SourceAccount': this.account },
          ArnLike: { 'aws:SourceArn': `arn:${this.partition}:cloudwatch:${this.region}:${this.account}:alarm:*` },
        },
      }),
    );

    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED, // the only encryption S3 server access logging accepts
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.network = new AirlockNetwork(this, 'Network', {
      existingVpc: s.existingVpc,
      natGateways: s.natGateways,
      createEndpoints: s.createVpcEndpoints,
      key: this.key,
      logRetention,
    });
    this.audit = new AuditStore(this, 'Audit', {
      key: this.key,
      accessLogsBucket: accessLogs,
      retentionDays: s.auditRetentionDays,
      objectLockMode: s.auditObjectLockMode,
    });
    this.policy = new PolicyService(this, 'Policy', { key: this.key, accessLogsBucket: accessLogs, logRetention });
    const reviewerGroups = s.reviewerGroups ?? ['reviewers'];
    let identity: IdentitySettings;
    let reviewerIdentity: IdentitySettings;
    if (s.oidcIssuer) {
      identity = {
        issuer: s.oidcIssuer,
        audience: s.oidcAudience!,
        audienceClaim: s.audienceClaim,
        requiredClaimValues: s.requiredClaimValues,
        principalClaim: s.principalClaim,
        groupsClaim: s.groupsClaim,
        jwksUri: s.jwksUri,
      };
      reviewerIdentity = identity;
    } else {
      this.defaultIdentity = new DefaultIdentity(this, 'Identity', { reviewerGroup: reviewerGroups[0]! });
      identity = this.defaultIdentity.proxySettings();
      reviewerIdentity = this.defaultIdentity.reviewerSettings();
    }
    this.approvals = new ApprovalWorkflow(this, 'Approvals', {
      key: this.key,
      logRetention,
      approvalTimeout: s.approvalTimeoutMinutes ? Duration.minutes(s.approvalTimeoutMinutes) : undefined,
      reviewerEmails: s.reviewerEmails,
      identity: reviewerIdentity,
      reviewerGroups,
      entries: s.approvalHandlerEntries,
      slackSecretArn: s.slackSecretArn,
      reviewerSignIn: this.defaultIdentity
        ? { scope: REVIEWER_SIGN_IN_SCOPE, cognito: { userPool: this.defaultIdentity.userPool, clientName: REVIEWER_CLIENT_NAME } }
        : s.reviewerClientId
          ? { scope: s.reviewerSignInScope ?? 'openid', clientId: s.reviewerClientId }
          : undefined,
    });
    this.taskTokens = new TaskTokenKey(this, 'TaskTokens');
    this.registry = new TargetRegistry(this, 'Targets', { targets: s.targets ?? [], key: this.key });

    for (const { registration } of this.registry.targets) {
      const tls = registration.settings?.tls as { mode?: string } | undefined;
      if (registration.kind === 'postgres' && tls?.mode === 'disable') {
        Annotations.of(this).addWarningV2(
          'airlock:upstream-plaintext',
          `Target ${registration.name}: upstream TLS is disabled by its settings (tls.mode: disable); the database credential crosses the network in clear.`,
        );
      }
    }
    const listenerTlsSecret = s.listenerTlsSecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'ListenerTls', s.listenerTlsSecretArn)
      : undefined;
    if (!listenerTlsSecret) {
      Annotations.of(this).addWarningV2(
        'airlock:plaintext-listeners',
        'No airlock:listenerTlsSecretArn: agents\' and reviewers\' tokens cross the VPC in clear (PostgreSQL on 5432, the console on 443). Set it for production (docs/deploy.md).',
      );
    }
    const sshHostKeySecret = s.sshHostKeySecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'SshHostKey', s.sshHostKeySecretArn)
      : undefined;
    if (!sshHostKeySecret) {
      const sshTargets = this.registry.targets.filter((t) => t.registration.kind === 'ssh').map((t) => t.registration.name);
      Annotations.of(this).addWarningV2(
        'airlock:no-ssh-listener',
        'No airlock:sshHostKeySecretArn: the gateway does not listen for SSH' +
          (sshTargets.length ? ` and SSH targets (${sshTargets.join(', ')}) are unreachable` : '') +
          '. Set it to enable SSH (docs/deploy.md, "SSH").',
      );
    }
    const hasKind = (kind: string) => this.registry.targets.some((t) => t.registration.kind === kind);
    this.fleet = new ProxyFleet(this, 'Fleet', {
      vpc: this.network.vpc,
      taskSubnets: this.network.taskSubnets,
      key: this.key,
      logRetention,
      listenerTlsSecret,
      sshHostKeySecret,
      internetFacing: s.internetFacing,
      allowedClientCidrs: s.allowedClientCidrs,
      minTasks: s.minTasks,
      maxTasks: s.maxTasks,
      cpu: s.proxyCpu,
      memoryLimitMiB: s.proxyMemoryMiB,
      upstreamPorts: this.registry.targets.map((t) => t.registration.port ?? DEFAULT_UPSTREAM_PORT[t.registration.kind] ?? 443),
      http: hasKind('http'),
      kubernetes: hasKind('kubernetes'),
      targetCidrs: s.targetCidrs,
      config: renderProxyConfig({
        identity,
        reviewerGroups,
        approvalTimeout: this.approvals.approvalTimeout,
        targets: this.registry.targets,
        policyFile: s.policyFile ?? '/app/policies/production-example.cedar',
        tls: listenerTlsSecret !== undefined,
        ssh: sshHostKeySecret !== undefined,
        http: hasKind('http'),
        audit: { retentionDays: this.audit.retentionDays },
        consoleSignIn: this.#consoleSignIn(s, listenerTlsSecret !== undefined),
      }),
      environment: {
        ...this.audit.environment(),
        ...this.policy.environment(),
        ...this.approvals.environment(),
        ...this.taskTokens.environment(),
      },
    });
    // Reviewers sign in (authorization code + PKCE) at the review page and, with listener TLS, at the
    // console; the issuer sends them back to either. The client comes after the fleet: the console's
    // default origin is the NLB's name, and the task only reads the client's id from its environment.
    const consoleOrigin = listenerTlsSecret ? (s.consoleUrl ?? `https://${this.fleet.loadBalancer.loadBalancerDnsName}:${NLB_PORTS.console}`).replace(/\/+$/, '') : undefined;
    const reviewerClient = this.defaultIdentity?.addReviewerClient([`${this.approvals.reviewBaseUrl}signin`, ...(consoleOrigin ? [`${consoleOrigin}/signin`] : [])]);
    if (reviewerClient && consoleOrigin) this.fleet.taskDefinition.defaultContainer!.addEnvironment(CONSOLE_SIGN_IN_CLIENT_ENV, reviewerClient.userPoolClientId);
    const taskRole = this.fleet.taskRole;
    this.audit.grantWriter(taskRole);
    this.audit.restrictSigningTo(taskRole);
    this.policy.grantFleetRead(taskRole);
    this.approvals.grantProxy(taskRole);
    this.taskTokens.restrictSigningTo(taskRole);
    this.registry.grantReadCredentials(taskRole);
    // Kubernetes targets on EKS: the task role signs the cluster token itself, or first assumes the
    // role the cluster's access entry names (settings.roleArn).
    const eksRoles = this.registry.targets.map((t) => t.registration.settings?.roleArn).filter((a): a is string => typeof a === 'string');
    if (eksRoles.length > 0) {
      taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [...new Set(eksRoles)] }));
    }

    this.observability = new Observability(this, 'Observability', {
      fleet: this.fleet,
      approvals: this.approvals,
      functions: [this.policy.handler, this.approvals.notifier, this.approvals.decision, this.approvals.expire],
      key: this.key,
      alarmEmails: s.alarmEmails,
    });

    new CfnOutput(this, 'GatewayDns', { value: this.fleet.loadBalancer.loadBalancerDnsName });
    new CfnOutput(this, 'ConsoleUrl', {
      // NLB 8443 → the console: HTTPS with the listeners' certificate, plain HTTP without one.
      value: `${listenerTlsSecret ? 'https' : 'http'}://${this.fleet.loadBalancer.loadBalancerDnsName}:${NLB_PORTS.console}/`,
      description: 'Web console (sessions, replay; approvals are decided at the DecisionEndpoint links)',
    });
    new CfnOutput(this, 'ProxySecurityGroup', {
      value: this.fleet.securityGroup.securityGroupId,
      description: 'Allow this group on your targets (PostgreSQL 5432, SSH 22, ...)',
    });
    // `airlock sessions | replay | audit verify --table <AuditTable> --bucket <AuditBucket>` (docs/audit.md).
    new CfnOutput(this, 'AuditTable', { value: this.audit.table.tableName, description: 'Audit trail: DynamoDB table (airlock ... --table)' });
    new CfnOutput(this, 'AuditBucket', { value: this.audit.bucket.bucketName, description: 'Audit trail: S3 bucket for large records and recordings (airlock ... --bucket)' });
    new CfnOutput(this, 'AuditSigningKey', {
      value: this.audit.signingKey.keyArn,
      description: 'KMS key signing audit digests: airlock audit verify --signing-key <this> fetches its public key (aws kms get-public-key to pin a copy)',
    });
    if (this.defaultIdentity) {
      const d = this.defaultIdentity;
      new CfnOutput(this, 'IdentityIssuer', { value: d.issuer, description: 'The Cognito user pool Airlock trusts (no airlock:oidcIssuer given)' });
      new CfnOutput(this, 'IdentityUserPoolId', { value: d.userPool.userPoolId });
      new CfnOutput(this, 'IdentityAgentClientId', { value: d.agentClient.userPoolClientId, description: 'App client for agents (client credentials, scope airlock/agents); its secret: aws cognito-idp describe-user-pool-client' });
      new CfnOutput(this, 'IdentityTokenEndpoint', { value: d.tokenEndpoint, description: 'POST grant_type=client_credentials&scope=airlock/agents with the agent client\'s id and secret (HTTP Basic)' });
      if (d.reviewerClient) new CfnOutput(this, 'IdentityReviewerClientId', { value: d.reviewerClient.userPoolClientId });
    }
    new CfnOutput(this, 'TaskTokenKey', {
      value: this.taskTokens.key.keyArn,
      description: 'KMS key signing task tokens (ES256); aws kms get-public-key gives the key that verifies them',
    });
    new CfnOutput(this, 'PolicyFunction', { value: this.policy.handler.function.functionName });
    new CfnOutput(this, 'PolicyBucket', { value: this.policy.bucket.bucketName });
    new CfnOutput(this, 'ReviewerTopic', { value: this.approvals.topic.topicArn });
    new CfnOutput(this, 'Dashboard', { value: this.observability.dashboard.dashboardName });
    for (const { registration, secret } of this.registry.targets) {
      new CfnOutput(this, `TargetSecret-${registration.name}`, { value: secret.secretArn });
    }

    acknowledgeNagFindings(this);
  }

  /** The console's browser sign-in client, when reviewers can reach the console over HTTPS. */
  #consoleSignIn(s: AirlockSettings, tls: boolean): { clientId: string; scope: string } | undefined {
    if (!tls) return undefined;
    if (this.defaultIdentity) return { clientId: fromEnv(CONSOLE_SIGN_IN_CLIENT_ENV), scope: REVIEWER_SIGN_IN_SCOPE };
    return s.reviewerClientId ? { clientId: s.reviewerClientId, scope: s.reviewerSignInScope ?? 'openid' } : undefined;
  }
}
