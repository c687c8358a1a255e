// The id of the reviewers' Cognito app client, found by its name in the user pool at the first
// sign-in. It cannot be in the decision function's environment: the client's callback URL is this
// function's own URL, so each would depend on the other in CloudFormation. ListUserPoolClients names
// ids and names only (never secrets); one signed JSON call, no SDK client package needed for it.
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { NodeSha256 } from '../../fargate-proxy/src/adapters/aws/eks-token.js';

export interface CognitoClientLookup {
  userPoolId: string;
  clientName: string;
  region: string;
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** For tests: where the Cognito API is (default `https://cognito-idp.<region>.amazonaws.com/`). */
  endpoint?: string;
  fetchImpl?: typeof fetch;
}

/** Resolves once (then cached); a failure is retried at the next sign-in. */
export function cognitoClientId(opts: CognitoClientLookup): () => Promise<string> {
  let found: Promise<string> | undefined;
  return () => {
    found ??= lookup(opts).catch((error: unknown) => {
      found = undefined;
      throw error;
    });
    return found;
  };
}

async function lookup(opts: CognitoClientLookup): Promise<string> {
  const endpoint = new URL(opts.endpoint ?? `https://cognito-idp.${opts.region}.amazonaws.com/`);
  const signer = new SignatureV4({ service: 'cognito-idp', region: opts.region, credentials: opts.credentials ?? fromNodeProviderChain(), sha256: NodeSha256 });
  let nextToken: string | undefined;
  do {
    const body = JSON.stringify({ UserPoolId: opts.userPoolId, MaxResults: 60, ...(nextToken ? { NextToken: nextToken } : {}) });
    const signed = await signer.sign({
      method: 'POST',
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
      path: endpoint.pathname,
      headers: { host: endpoint.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSCognitoIdentityProviderService.ListUserPoolClients' },
      body,
    });
    const response = await (opts.fetchImpl ?? fetch)(endpoint, { method: 'POST', headers: signed.headers as Record<string, string>, body, signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`Cognito ListUserPoolClients answered ${response.status}`);
    const page = (await response.json()) as { UserPoolClients?: { ClientId?: string; ClientName?: string }[]; NextToken?: string };
    const match = page.UserPoolClients?.find((c) => c.ClientName === opts.clientName && c.ClientId);
    if (match?.ClientId) return match.ClientId;
    nextToken = page.NextToken;
  } while (nextToken);
  throw new Error(`no app client named ${opts.clientName} in the user pool`);
}
