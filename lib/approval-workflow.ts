import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type * as cognito from 'aws-cdk-lib/aws-cognito';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { IdentitySettings } from './default-identity.js';
import { WORKFLOW_ERRORS } from '../lambdas/shared/workflow.js';
import { AirlockFunction, lambdasEntry } from './airlock-function.js';
import { acknowledge, acknowledgeOnGrantee, nagArn } from './nag-acknowledgements.js';

/** A request id as the proxy makes them (randomUUID), in IAM's StringLike syntax. */
export const REQUEST_KEY_PATTERN = '????????-????-????-????-????????????';
/**
 * What the fleet may touch on its own requests: cancel/expire (state, reason, decidedAt) and the
 * execution ARN. IAM counts every attribute a request names, conditions included: claiming a held
 * HTTP request (`useHeld`) names `approvalId` in its condition, so it is listed though never set.
 */
export const FLEET_UPDATE_ATTRIBUTES = ['requestId', 'kind', 'state', 'reason', 'decidedAt', 'executionArn', 'approvalId'] as const;
/**
 * Tasks (`task#<id>`) and kill-switch orders (`kill#<principal>#<at>`), which the fleet writes to the
 * approvals table (fargate-proxy/src/adapters/aws/task-dynamo-store.ts). Neither pattern can match a
 * request (UUID) or a standing grant (`grant#…`).
 */
export const FLEET_TASK_KEY_PATTERNS = ['task#*', 'kill#*'] as const;
/**
 * Fleet-wide budget counts (`budget#<key>`, fargate-proxy/src/adapters/aws/budget-dynamo-ledger.ts):
 * conditional `ADD used`, and the record's expiry; what tasks did (`budget#usage#…`): unconditional
 * `ADD used`, and the expiry; concurrent sessions
 * (fargate-proxy/src/adapters/aws/session-slot-ledger.ts): `total` and the per-process `holders` map.
 * Cannot match a request, a grant, a task or a kill order.
 */
export const FLEET_BUDGET_KEY_PATTERN = 'budget#*';
export const FLEET_BUDGET_ATTRIBUTES = ['requestId', 'used', 'ttl', 'total', 'holders'] as const;

export const APPROVAL_ENV = {
  table: 'AIRLOCK_APPROVALS_TABLE',
  stateMachineArn: 'AIRLOCK_APPROVAL_STATE_MACHINE_ARN',
  reviewBaseUrl: 'AIRLOCK_REVIEW_BASE_URL',
} as const;

/** Errors the approval handlers pass to SendTaskFailure; the workflow ends normally on each. */
export { WORKFLOW_ERRORS };

export interface ApprovalWorkflowProps {
  key: kms.IKey;
  logRetention: logs.RetentionDays;
  /** How long a held statement waits for a reviewer before it expires. Default 15 minutes. */
  approvalTimeout?: Duration;
  /** Reviewer e-mail addresses subscribed to the topic (they confirm by e-mail). */
  reviewerEmails?: string[];
  /** How the review page checks reviewers' tokens: issuer, audience (and where it is named), claims. */
  identity: IdentitySettings;
  /** Groups allowed to decide. */
  reviewerGroups: string[];
  /** Most decision requests served at once: the public URL's throttle. Default 10. */
  decisionConcurrency?: number;
  /** Base URL of the review page; defaults to the decision endpoint's own URL. */
  reviewBaseUrl?: string;
  /**
   * Complete ARN of a secret holding the Slack app's settings (JSON `signingSecret`, `botToken`,
   * `channel`, optional `reviewers`). Without it, reviewers are told by e-mail only.
   */
  slackSecretArn?: string;
  /** Handler sources, when not the repository's `lambdas/approval-*` folders. */
  entries?: { notifier?: string; decision?: string; expire?: string };
  /**
   * Reviewers' browser sign-in at the issuer (authorization code + PKCE) on the review page, with a
   * public client whose callback is `<reviewBaseUrl>signin`: named (`clientId`), or the stack's own
   * Cognito client, looked up by name at run time (its callback is this function's URL, so the
   * function's environment cannot name its id without a dependency cycle).
   */
  reviewerSignIn?: { scope: string; clientId?: string; cognito?: { userPool: cognito.IUserPool; clientName: string } };
}

/**
 * Human approval of held statements: a Standard state machine waits on a task token while the
 * notifier tells reviewers (SNS e-mail, Slack); the decision endpoint returns the token; the
 * timeout path records the expiry. The proxy polls the approval record, never the workflow.
 */
export class ApprovalWorkflow extends Construct {
  readonly table: dynamodb.Table;
  private readonly key: kms.IKey;
  readonly topic: sns.Topic;
  readonly slackSecret?: secretsmanager.ISecret;
  readonly stateMachine: sfn.StateMachine;
  readonly notifier: AirlockFunction;
  readonly decision: AirlockFunction;
  readonly expire: AirlockFunction;
  readonly decisionUrl: lambda.FunctionUrl;
  readonly approvalTimeout: Duration;
  /** Where reviewers open a request (`<this>review/<id>`): the given URL or the decision endpoint. */
  readonly reviewBaseUrl: string;

  constructor(scope: Construct, id: string, props: ApprovalWorkflowProps) {
    super(scope, id);
    this.key = props.key;
    this.approvalTimeout = props.approvalTimeout ?? Duration.minutes(15);

    this.table = new dynamodb.Table(this, 'Approvals', {
      partitionKey: { name: 'requestId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'ttl',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.topic = new sns.Topic(this, 'Reviewers', {
      displayName: 'Airlock approvals',
      masterKey: props.key,
      enforceSSL: true,
    });
    for (const email of props.reviewerEmails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }

    // Imported, not created: the operator stores Slack's values first, so the handlers never read a placeholder.
    this.slackSecret = props.slackSecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'SlackSecret', props.slackSecretArn)
      : undefined;
    const slackEnv: Record<string, string> = this.slackSecret ? { SLACK_SECRET_ARN: this.slackSecret.secretArn } : {};

    const common = { key: props.key, logRetention: props.logRetention };
    this.decision = new AirlockFunction(this, 'Decision', {
      ...common,
      entry: props.entries?.decision ?? lambdasEntry('approval-decision'),
      serviceName: 'approval-decision',
      description: 'Airlock approvals: Slack actions and the review page; returns the task token',
      environment: {
        APPROVALS_TABLE: this.table.tableName,
        ...slackEnv,
        REVIEWER_GROUPS: props.reviewerGroups.join(','),
        ...identityEnvironment(props.identity),
        ...signInEnvironment(props),
      },
      // The URL is public (Slack cannot sign SigV4): a flood is capped here, not on the account's pool.
      reservedConcurrentExecutions: props.decisionConcurrency ?? 10,
    });
    // Authentication is in the handler (Slack request signature, reviewer's OIDC token): Slack cannot sign SigV4.
    this.decisionUrl = this.decision.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

    this.reviewBaseUrl = props.reviewBaseUrl ?? this.decisionUrl.url;
    this.notifier = new AirlockFunction(this, 'Notifier', {
      ...common,
      entry: props.entries?.notifier ?? lambdasEntry('approval-notifier'),
      serviceName: 'approval-notifier',
      description: 'Airlock approvals: stores the task token and tells reviewers (SNS, Slack)',
      environment: {
        APPROVALS_TABLE: this.table.tableName,
        TOPIC_ARN: this.topic.topicArn,
        REVIEW_BASE_URL: this.reviewBaseUrl,
        ...slackEnv,
      },
    });
    this.expire = new AirlockFunction(this, 'Expire', {
      ...common,
      entry: props.entries?.expire ?? lambdasEntry('approval-expire'),
      serviceName: 'approval-expire',
      description: 'Airlock approvals: marks a request expired when no reviewer answered in time',
      environment: { APPROVALS_TABLE: this.table.tableName },
    });

    // By role, no scans: the notifier stores the task token, the expirer settles on timeout, and
    // only the decision function settles decisions and writes standing grants (PutItem).
    this.grantItems(this.notifier.role, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    this.grantItems(this.expire.role, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    this.grantItems(this.decision.role, ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem']);
    this.topic.grantPublish(this.notifier.role);
    this.slackSecret?.grantRead(this.notifier.role);
    this.slackSecret?.grantRead(this.decision.role);
    // Finding the reviewers' client id by name: ids and names only, on this pool only.
    props.reviewerSignIn?.cognito?.userPool.grant(this.decision.role, 'cognito-idp:ListUserPoolClients');

    this.stateMachine = this.buildStateMachine(props);
    // A separate policy, not the roles' default ones: the functions must not depend on the state
    // machine, which invokes the notifier whose review URL is the decision function's.
    const taskResponse = new iam.Policy(this, 'TaskResponse', { roles: [this.decision.role, this.notifier.role] });
    this.stateMachine.grantTaskResponse(taskResponse);

    new CfnOutput(this, 'DecisionEndpoint', {
      value: this.decisionUrl.url,
      description: 'Slack interactivity URL = <this>slack/actions; review page = <this>review/{id}',
    });
  }

  private buildStateMachine(props: ApprovalWorkflowProps): sfn.StateMachine {
    const notify = new tasks.LambdaInvoke(this, 'NotifyReviewers', {
      lambdaFunction: this.notifier.function,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        requestId: sfn.JsonPath.stringAt('$.requestId'),
        taskToken: sfn.JsonPath.taskToken,
      }),
      taskTimeout: sfn.Timeout.duration(this.approvalTimeout),
      resultPath: '$.decision',
      comment: 'Holds until the decision endpoint returns the task token, or the approval window closes',
    });
    const expire = new tasks.LambdaInvoke(this, 'ExpireRequest', {
      lambdaFunction: this.expire.function,
      payload: sfn.TaskInput.fromObject({ requestId: sfn.JsonPath.stringAt('$.requestId') }),
      resultPath: sfn.JsonPath.DISCARD,
      retryOnServiceExceptions: true,
    });
    expire.next(new sfn.Succeed(this, 'Expired'));

    // The notifier itself failing (no channel reached a reviewer, Lambda throttled or erroring) is
    // retried with backoff: about 5 + 10 + 20 + 40 s. Workflow outcomes (denied, cancelled, expired)
    // arrive as other error names and are never retried.
    notify.addRetry({
      errors: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException', 'Error'],
      interval: Duration.seconds(5),
      backoffRate: 2,
      maxAttempts: 4,
      jitterStrategy: sfn.JitterType.FULL,
    });
    notify.addCatch(expire, { errors: [sfn.Errors.TIMEOUT, 'States.HeartbeatTimeout'], resultPath: '$.error' });
    notify.addCatch(new sfn.Succeed(this, 'Denied'), { errors: [WORKFLOW_ERRORS.denied], resultPath: '$.error' });
    notify.addCatch(new sfn.Succeed(this, 'Cancelled'), { errors: [WORKFLOW_ERRORS.cancelled], resultPath: '$.error' });
    // The record already says expired (a reviewer answered too late): nothing left to write.
    notify.addCatch(new sfn.Succeed(this, 'ExpiredBeforeDecision'), { errors: [WORKFLOW_ERRORS.expired], resultPath: '$.error' });
    // Retries exhausted: the record says why (the holding task polls it and tells the agent at once,
    // instead of at the approval timeout), and the execution fails (the ApprovalWorkflowFailed alarm).
    const notNotified = new tasks.LambdaInvoke(this, 'RecordNotNotified', {
      lambdaFunction: this.expire.function,
      payload: sfn.TaskInput.fromObject({ requestId: sfn.JsonPath.stringAt('$.requestId'), why: 'notNotified' }),
      resultPath: sfn.JsonPath.DISCARD,
      retryOnServiceExceptions: true,
    });
    notNotified.next(new sfn.Fail(this, 'ReviewersNotNotified', { error: 'ReviewersNotNotified', cause: 'no reviewer could be notified after retries' }));
    notify.addCatch(notNotified, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

    const logGroup = new logs.LogGroup(this, 'WorkflowLogs', {
      retention: props.logRetention,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const machine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(notify.next(new sfn.Succeed(this, 'Approved'))),
      // The overall cap leaves the expiry path time to run after the wait times out.
      timeout: this.approvalTimeout.plus(Duration.minutes(5)),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      comment: 'Airlock approval of one held statement; input {"requestId": "..."}',
    });
    for (const fn of [this.notifier, this.expire]) {
      acknowledge(
        machine.role,
        `AwsSolutions-IAM5[Resource::${nagArn(fn.function)}:*]`,
        'Invoking a Lambda task may target its versions and aliases (ARN suffix); the function itself is named',
      );
    }
    acknowledge(
      machine.role,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray segment writes and CloudWatch Logs delivery management have no resource-level permissions',
    );
    return machine;
  }

  /**
   * What the proxy does: start a workflow per held statement, stop it when the agent cancels, and
   * read/write the approval record.
   */
  grantProxy(grantee: iam.IGrantable): void {
    this.stateMachine.grantStartExecution(grantee);
    this.stateMachine.grantExecution(grantee, 'states:StopExecution');
    // How grantExecution names the machine inside an execution ARN, as cdk-nag prints it.
    const machineName = Stack.of(this).resolve(Fn.select(6, Fn.split(':', this.stateMachine.stateMachineArn)));
    // A stack with an explicit environment names its region and account literally.
    const stack = Stack.of(this);
    const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
    const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
    const executions = `arn:<AWS::Partition>:states:${region}:${account}:execution:${JSON.stringify(machineName)}:*`;
    acknowledgeOnGrantee(
      grantee,
      `AwsSolutions-IAM5[Resource::${executions}]`,
      'Executions are named per request at run time; the grant is StopExecution on this state machine\'s executions only',
    );
    this.grantItems(grantee, ['dynamodb:GetItem']);
    // Requests only: their keys are UUIDs, which no grant key (`grant#<sha256>`) can match, so the
    // fleet can neither mint nor overwrite a standing grant.
    const requestsOnly = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [REQUEST_KEY_PATTERN] }, Null: { 'dynamodb:LeadingKeys': 'false' } };
    iam.Grant.addToPrincipal({ grantee, actions: ['dynamodb:PutItem'], resourceArns: [this.table.tableArn], conditions: requestsOnly });
    // Cancelling or expiring its own held statement, and noting the workflow's execution: these
    // attributes only, never the reviewer, scope or task token a decision writes.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:UpdateItem'],
      resourceArns: [this.table.tableArn],
      conditions: { ...requestsOnly, 'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...FLEET_UPDATE_ATTRIBUTES] } },
    });
    // Tasks and kill orders (issue 32): whole-item puts under their own key prefixes. Listing tasks and
    // the kill-order poll are scans (the store filters on `kind`); scans read, they cannot write.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:PutItem'],
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...FLEET_TASK_KEY_PATTERNS] }, Null: { 'dynamodb:LeadingKeys': 'false' } },
    });
    iam.Grant.addToPrincipal({ grantee, actions: ['dynamodb:Scan'], resourceArns: [this.table.tableArn] });
    // Budgets counted fleet-wide (leased batches, concurrent-session slots): updates of the counts and their expiry, under budget keys only.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:UpdateItem'],
      resourceArns: [this.table.tableArn],
      conditions: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [FLEET_BUDGET_KEY_PATTERN] },
        Null: { 'dynamodb:LeadingKeys': 'false' },
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...FLEET_BUDGET_ATTRIBUTES] },
      },
    });
    this.key.grantEncryptDecrypt(grantee);
  }

  private grantItems(grantee: iam.IGrantable, actions: string[]): void {
    iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.table.tableArn] });
    this.key.grantEncryptDecrypt(grantee);
  }

  environment(): Record<string, string> {
    return {
      [APPROVAL_ENV.table]: this.table.tableName,
      [APPROVAL_ENV.stateMachineArn]: this.stateMachine.stateMachineArn,
      [APPROVAL_ENV.reviewBaseUrl]: this.reviewBaseUrl,
    };
  }
}

/** The review page's sign-in settings as the decision Lambda's environment (lambdas/approval-decision/index.ts). */
function signInEnvironment(props: ApprovalWorkflowProps): Record<string, string> {
  const s = props.reviewerSignIn;
  return {
    // A literal only: the Function URL itself would make the function depend on itself.
    ...(props.reviewBaseUrl ? { REVIEW_BASE_URL: props.reviewBaseUrl } : {}),
    ...(s ? { REVIEWER_SIGN_IN_SCOPE: s.scope } : {}),
    ...(s?.clientId ? { REVIEWER_CLIENT_ID: s.clientId } : {}),
    ...(s?.cognito ? { COGNITO_USER_POOL_ID: s.cognito.userPool.userPoolId, REVIEWER_CLIENT_NAME: s.cognito.clientName } : {}),
  };
}

/** The decision Lambda's identity settings as its environment (lambdas/approval-decision/index.ts). */
export function identityEnvironment(id: IdentitySettings): Record<string, string> {
  return {
    OIDC_ISSUER: id.issuer,
    OIDC_AUDIENCE: [id.audience].flat().join(','),
    ...(id.audienceClaim ? { OIDC_AUDIENCE_CLAIM: id.audienceClaim } : {}),
    ...(id.requiredClaimValues ? { OIDC_REQUIRED_CLAIMS: JSON.stringify(id.requiredClaimValues) } : {}),
    ...(id.principalClaim ? { OIDC_PRINCIPAL_CLAIM: id.principalClaim } : {}),
    ...(id.groupsClaim ? { OIDC_GROUPS_CLAIM: [id.groupsClaim].flat().join(',') } : {}),
    ...(id.jwksUri ? { OIDC_JWKS_URI: id.jwksUri } : {}),
  };
}
