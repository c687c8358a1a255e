// Lambda entry: wires the decision handler from the environment (APPROVALS_TABLE, SLACK_SECRET_ARN,
// OIDC_ISSUER, OIDC_AUDIENCE (comma-separated), REVIEWER_GROUPS, optional OIDC_GROUPS_CLAIM (comma-separated),
// OIDC_PRINCIPAL_CLAIM, OIDC_JWKS_URI, OIDC_AUDIENCE_CLAIM, OIDC_REQUIRED_CLAIMS (JSON)), and for the
// reviewers' browser sign-in: REVIEWER_SIGN_IN_SCOPE with REVIEWER_CLIENT_ID, or (the stack's own
// Cognito pool) COGNITO_USER_POOL_ID + REVIEWER_CLIENT_NAME; REVIEW_BASE_URL when not the Function URL.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { listEnv, requireEnv } from '../shared/env.js';
import { lambdaLogger } from '../shared/logger.js';
import { oidcReviewerVerifier } from '../shared/reviewer-token.js';
import { slackConfigLoader } from '../shared/slack-config.js';
import { createSignIn } from '../../fargate-proxy/src/console/oauth-sign-in.js';
import { cognitoClientId } from '../shared/cognito-client-id.js';
import { createDecisionHandler } from './decision.js';

/** The reviewers' public client: named in the environment, or looked up by name in the stack's pool. */
function reviewerClientId(): string | (() => Promise<string>) | undefined {
  if (process.env.REVIEWER_CLIENT_ID) return process.env.REVIEWER_CLIENT_ID;
  if (process.env.COGNITO_USER_POOL_ID && process.env.REVIEWER_CLIENT_NAME) {
    return cognitoClientId({ userPoolId: process.env.COGNITO_USER_POOL_ID, clientName: process.env.REVIEWER_CLIENT_NAME, region: requireEnv('AWS_REGION') });
  }
  return undefined;
}

let wired: ((event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>) | undefined;

export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  wired ??= wire();
  return wired(event);
}

function wire(): (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2> {
  const clientId = reviewerClientId();
  return createDecisionHandler({
    ...(clientId && process.env.REVIEWER_SIGN_IN_SCOPE ? { signIn: createSignIn({ issuer: requireEnv('OIDC_ISSUER'), clientId, scope: process.env.REVIEWER_SIGN_IN_SCOPE }) } : {}),
    ...(process.env.REVIEW_BASE_URL ? { reviewBaseUrl: process.env.REVIEW_BASE_URL } : {}),
    store: new DynamoApprovalStore(new DynamoDBClient({}), requireEnv('APPROVALS_TABLE')),
    sfn: new SFNClient({}),
    reviewerGroups: listEnv('REVIEWER_GROUPS'),
    verifyReviewer: oidcReviewerVerifier({
      issuer: requireEnv('OIDC_ISSUER'),
      audience: listEnv('OIDC_AUDIENCE'),
      ...(process.env.OIDC_GROUPS_CLAIM ? { groupsClaim: listEnv('OIDC_GROUPS_CLAIM') } : {}),
      ...(process.env.OIDC_AUDIENCE_CLAIM ? { audienceClaim: process.env.OIDC_AUDIENCE_CLAIM } : {}),
      ...(process.env.OIDC_REQUIRED_CLAIMS ? { requiredClaimValues: JSON.parse(process.env.OIDC_REQUIRED_CLAIMS) as Record<string, string> } : {}),
      ...(process.env.OIDC_PRINCIPAL_CLAIM ? { principalClaim: process.env.OIDC_PRINCIPAL_CLAIM } : {}),
      ...(process.env.OIDC_JWKS_URI ? { jwksUri: process.env.OIDC_JWKS_URI } : {}),
    }),
    slackConfig: slackConfigLoader(new SecretsManagerClient({}), process.env.SLACK_SECRET_ARN),
    logger: lambdaLogger('airlock-approval-decision'),
  });
}
