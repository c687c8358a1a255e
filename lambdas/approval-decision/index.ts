// Lambda entry: wires the decision handler from the environment (APPROVALS_TABLE, SLACK_SECRET_ARN,
// OIDC_ISSUER, OIDC_AUDIENCE (comma-separated), REVIEWER_GROUPS, optional OIDC_GROUPS_CLAIM (comma-separated),
// OIDC_PRINCIPAL_CLAIM, OIDC_JWKS_URI, OIDC_AUDIENCE_CLAIM, OIDC_REQUIRED_CLAIMS (JSON)).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { listEnv, requireEnv } from '../shared/env.js';
import { lambdaLogger } from '../shared/logger.js';
import { oidcReviewerVerifier } from '../shared/reviewer-token.js';
import { slackConfigLoader } from '../shared/slack-config.js';
import { createDecisionHandler } from './decision.js';

let wired: ((event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>) | undefined;

export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  wired ??= createDecisionHandler({
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
  return wired(event);
}
