// The bearer token an Amazon EKS API server accepts from an IAM identity (what `aws eks get-token`
// prints): `k8s-aws-v1.` + base64url(a presigned STS GetCallerIdentity URL) whose signature covers
// the `x-k8s-aws-id: <cluster name>` header. The API server's authenticator (aws-iam-authenticator)
// calls the URL; STS answers with the caller's ARN, which the cluster's access entries map to RBAC.
// The task role signs; no long-lived secret exists anywhere.
import { createHash, createHmac } from 'node:crypto';
import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
/** The authenticator refuses URLs presigned for longer; tokens are then cached for less than this. */
export const EKS_TOKEN_PRESIGN_SECONDS = 60;
/** aws-iam-authenticator treats a token as valid for 15 minutes from its X-Amz-Date; refresh well before. */
export const EKS_TOKEN_REUSE_MS = 10 * 60 * 1000;

/** node:crypto behind the Checksum interface SignatureV4 expects (SHA-256, or HMAC-SHA-256 with a key); also signs the review page's Cognito lookup. */
export class NodeSha256 implements Checksum {
  #hash;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: Uint8Array): void {
    this.#hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
  reset(): void {
    throw new Error('not supported');
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

export interface EksTokenOptions {
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Signing time; default now. */
  now?: Date;
}

/** STS's regional endpoint: the authenticator accepts only STS hosts it knows. */
export const stsHost = (region: string): string => (region.startsWith('cn-') ? `sts.${region}.amazonaws.com.cn` : `sts.${region}.amazonaws.com`);

/** Presigns GetCallerIdentity for the cluster; the URL is the token's whole content. */
export async function presignedCallerIdentityUrl(opts: EksTokenOptions): Promise<string> {
  const signer = new SignatureV4({ service: 'sts', region: opts.region, credentials: opts.credentials, sha256: NodeSha256, uriEscapePath: true, applyChecksum: false });
  const hostname = stsHost(opts.region);
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname, 'x-k8s-aws-id': opts.clusterName },
    },
    { expiresIn: EKS_TOKEN_PRESIGN_SECONDS, signingDate: opts.now ?? new Date() },
  );
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(signed.query ?? {})) for (const one of [v].flat()) if (typeof one === 'string') query.append(k, one);
  return `https://${hostname}/?${query.toString()}`;
}

export async function eksToken(opts: EksTokenOptions): Promise<string> {
  const url = await presignedCallerIdentityUrl(opts);
  return EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

/**
 * One token per cluster, reused for EKS_TOKEN_REUSE_MS: every upstream request needs one, and signing
 * each would be wasted work (the credentials provider caches the role's session itself).
 */
export function eksTokenSource(opts: Omit<EksTokenOptions, 'now'>): () => Promise<string> {
  let cached: { token: string; at: number } | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < EKS_TOKEN_REUSE_MS) return cached.token;
    const token = await eksToken(opts);
    cached = { token, at: Date.now() };
    return token;
  };
}

/**
 * The Kubernetes engine's EKS token sources: the gateway's own AWS identity (the task role through
 * the default provider chain), or `roleArn` assumed from it; region from the credential or AWS_REGION.
 */
export function eksTokenSources(c: { clusterName: string; region?: string; roleArn?: string }): () => Promise<string> {
  const region = c.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new Error(`EKS cluster ${c.clusterName}: no region (set it on the credential or AWS_REGION)`);
  const base = fromNodeProviderChain();
  const credentials = c.roleArn
    ? fromTemporaryCredentials({ masterCredentials: base, params: { RoleArn: c.roleArn, RoleSessionName: 'airlock-gateway' }, clientConfig: { region } })
    : base;
  return eksTokenSource({ clusterName: c.clusterName, region, credentials });
}
