import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { acknowledge } from './nag-acknowledgements.js';

/** How the proxy and the decision Lambda read tokens (fargate-proxy/src/config/schema.ts, `identity`). */
export interface IdentitySettings {
  issuer: string;
  audience: string | string[];
  audienceClaim?: string;
  requiredClaimValues?: Record<string, string>;
  principalClaim?: string;
  groupsClaim?: string | string[];
  jwksUri?: string;
}

/** The resource server and its scopes: `airlock/agents` for agents, `airlock/review` for reviewers. */
export const DEFAULT_IDENTITY = {
  resourceServer: 'airlock',
  agentScope: 'agents',
  reviewScope: 'review',
} as const;
export const AGENT_SCOPE = `${DEFAULT_IDENTITY.resourceServer}/${DEFAULT_IDENTITY.agentScope}`;
export const REVIEW_SCOPE = `${DEFAULT_IDENTITY.resourceServer}/${DEFAULT_IDENTITY.reviewScope}`;
/** The reviewers' browser client; the review page finds its id by this name (lambdas/shared/cognito-client-id.ts). */
export const REVIEWER_CLIENT_NAME = 'airlock-reviewers';
/** What the review page asks Cognito for: an ID token's `openid`, and the scope that makes the access token a reviewer's. */
export const REVIEWER_SIGN_IN_SCOPE = `openid ${REVIEW_SCOPE}`;

export interface DefaultIdentityProps {
  /** Cognito group reviewers are put in; its name reaches tokens as `cognito:groups`. */
  reviewerGroup: string;
}

/**
 * The identity provider a deployment gets when it names none: a Cognito user pool with a resource
 * server (`airlock`), a confidential app client for agents (client credentials, scope `airlock/agents`),
 * a public app client for reviewers (authorization code with PKCE, scope `airlock/review`) and the
 * reviewer group. Cognito's access tokens carry no `aud`: Airlock checks the `scope` instead, which
 * only these app clients may be granted, and requires `token_use: access` so ID tokens never pass.
 */
export class DefaultIdentity extends Construct {
  readonly userPool: cognito.UserPool;
  readonly agentClient: cognito.UserPoolClient;
  reviewerClient?: cognito.UserPoolClient;
  readonly domain: cognito.UserPoolDomain;
  readonly issuer: string;
  readonly tokenEndpoint: string;
  private readonly reviewScope: cognito.ResourceServerScope;
  private readonly server: cognito.UserPoolResourceServer;

  constructor(scope: Construct, id: string, props: DefaultIdentityProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.userPool = new cognito.UserPool(this, 'Pool', {
      // Reviewers are invited by an operator (docs/deploy.md); nobody signs themselves up.
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: { minLength: 12, requireDigits: true, requireLowercase: true, requireUppercase: true, requireSymbols: true, tempPasswordValidity: Duration.days(3) },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.userPool,
      'AwsSolutions-COG8',
      'Threat protection needs the Plus feature plan (billed per user); reviewers sign in with a password and a required TOTP second factor. Bring your own issuer (airlock:oidcIssuer) for more.',
    );
    const agents = new cognito.ResourceServerScope({ scopeName: DEFAULT_IDENTITY.agentScope, scopeDescription: 'AI agents opening sessions through Airlock' });
    const review = new cognito.ResourceServerScope({ scopeName: DEFAULT_IDENTITY.reviewScope, scopeDescription: 'Reviewers deciding held statements' });
    this.reviewScope = review;
    const server = this.userPool.addResourceServer('Api', { identifier: DEFAULT_IDENTITY.resourceServer, scopes: [agents, review] });
    this.server = server;

    this.agentClient = this.userPool.addClient('Agents', {
      userPoolClientName: 'airlock-agents',
      generateSecret: true,
      authFlows: {},
      oAuth: { flows: { clientCredentials: true }, scopes: [cognito.OAuthScope.resourceServer(server, agents)] },
      accessTokenValidity: Duration.hours(1),
      enableTokenRevocation: true,
      preventUserExistenceErrors: true,
    });
    new cognito.CfnUserPoolGroup(this, 'ReviewerGroup', {
      userPoolId: this.userPool.userPoolId,
      groupName: props.reviewerGroup,
      description: 'May approve or deny statements held by Airlock',
    });
    // The hosted domain answers /oauth2/token and /oauth2/authorize. Prefixes are unique per region.
    this.domain = this.userPool.addDomain('Domain', {
      cognitoDomain: { domainPrefix: `airlock-${stack.stackName.toLowerCase().replace(/[^a-z0-9-]/g, '')}-${stack.account}` },
    });
    this.issuer = `https://cognito-idp.${stack.region}.amazonaws.com/${this.userPool.userPoolId}`;
    this.tokenEndpoint = `${this.domain.baseUrl()}/oauth2/token`;
  }

  /**
   * The reviewers' browser client, once the page they return to (the decision endpoint) exists: the
   * endpoint's own settings name only the issuer and the review scope, so nothing here depends back.
   */
  addReviewerClient(callbackUrls: string[]): cognito.UserPoolClient {
    this.reviewerClient = this.userPool.addClient('Reviewers', {
      userPoolClientName: REVIEWER_CLIENT_NAME,
      // A browser client holds no secret: authorization code, with PKCE binding the code to the page that asked.
      generateSecret: false,
      authFlows: {},
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.resourceServer(this.server, this.reviewScope)],
        callbackUrls,
      },
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.hours(12),
      enableTokenRevocation: true,
      preventUserExistenceErrors: true,
    });
    return this.reviewerClient;
  }

  /** What the proxy verifies: agents' and reviewers' access tokens, by scope, never ID tokens. */
  proxySettings(): IdentitySettings {
    return {
      issuer: this.issuer,
      audience: [AGENT_SCOPE, REVIEW_SCOPE],
      audienceClaim: 'scope',
      requiredClaimValues: { token_use: 'access' },
      // Machine clients have no groups, only scopes: an agent is in group `airlock/agents`.
      groupsClaim: ['cognito:groups', 'scope'],
    };
  }

  /** What the decision Lambda verifies: reviewers' access tokens only. */
  reviewerSettings(): IdentitySettings {
    return { ...this.proxySettings(), audience: REVIEW_SCOPE };
  }
}
