import type { Node } from 'constructs';
import type { AirlockSettings } from './airlock-stack.js';

const PREFIX = 'airlock:';

/**
 * Reads the deployment's settings from CDK context (`cdk.json` or `-c airlock:key=value`).
 * Values given on the command line arrive as strings: JSON ones (lists, objects, numbers) are parsed.
 */
export function settingsFromContext(node: Node): AirlockSettings {
  const get = <T>(key: string): T | undefined => {
    const raw: unknown = node.tryGetContext(PREFIX + key);
    if (typeof raw === 'string' && /^[[{0-9]|^(true|false)$/.test(raw.trim())) {
      try {
        return JSON.parse(raw) as T;
      } catch {
        throw new Error(`context ${PREFIX}${key} is not valid JSON`);
      }
    }
    return raw as T | undefined;
  };
  const list = (key: string): string[] | undefined => {
    const v = get<string | string[]>(key);
    return typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v;
  };
  return {
    // Neither: the stack creates a Cognito user pool (docs/deploy.md, "Identity provider").
    oidcIssuer: get('oidcIssuer'),
    oidcAudience: get('oidcAudience'),
    audienceClaim: get('audienceClaim'),
    requiredClaimValues: get('requiredClaimValues'),
    principalClaim: get('principalClaim'),
    groupsClaim: get('groupsClaim'),
    jwksUri: get('jwksUri'),
    reviewerGroups: list('reviewerGroups'),
    reviewerClientId: get('reviewerClientId'),
    reviewerSignInScope: get('reviewerSignInScope'),
    consoleUrl: get('consoleUrl'),
    reviewerEmails: list('reviewerEmails'),
    alarmEmails: list('alarmEmails'),
    targets: get('targets'),
    existingVpc: get('existingVpc'),
    natGateways: get('natGateways'),
    createVpcEndpoints: get('createVpcEndpoints'),
    internetFacing: get('internetFacing'),
    allowedClientCidrs: list('allowedClientCidrs'),
    targetCidrs: list('targetCidrs'),
    listenerTlsSecretArn: get('listenerTlsSecretArn'),
    sshHostKeySecretArn: get('sshHostKeySecretArn'),
    approvalTimeoutMinutes: get('approvalTimeoutMinutes'),
    slackSecretArn: get('slackSecretArn'),
    objectLockDays: get('objectLockDays'),
    auditRetentionDays: get('auditRetentionDays'),
    auditObjectLockMode: get('auditObjectLockMode'),
    policyFile: get('policyFile'),
    minTasks: get('minTasks'),
    maxTasks: get('maxTasks'),
    proxyCpu: get('proxyCpu'),
    proxyMemoryMiB: get('proxyMemoryMiB'),
  };
}
