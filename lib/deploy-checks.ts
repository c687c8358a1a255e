// Settings that would deploy a fleet that cannot work, or one that is unsafe, fail `cdk synth`
// with a message naming the setting and the fix: a crash-looping fleet or tokens in clear are
// found at the operator's desk, not after a 20-minute deploy.
import type { AirlockSettings } from './airlock-stack.js';
import { OPEN_CIDRS } from './proxy-fleet.js';

/** Domains reserved for documentation and testing (RFC 2606, RFC 6761): never a real issuer. */
const PLACEHOLDER_HOST = /(^|\.)(example\.(com|net|org)|example|invalid|test|localhost)$/i;

export function deployProblems(s: AirlockSettings): string[] {
  const problems: string[] = [];
  if (!s.targets || s.targets.length === 0) {
    problems.push('airlock:targets is empty: the proxy refuses to start without a target. Register at least one (docs/deploy.md, "Register a target").');
  }
  let issuer: URL | undefined;
  if (s.oidcIssuer !== undefined) {
    try {
      issuer = new URL(s.oidcIssuer);
    } catch {
      problems.push(`airlock:oidcIssuer "${s.oidcIssuer}" is not a URL.`);
    }
    if ([s.oidcAudience ?? []].flat().filter((a) => a.length > 0).length === 0) {
      problems.push('airlock:oidcIssuer is set but airlock:oidcAudience is not: every token would be checked against no audience. Set the audience your issuer puts in access tokens.');
    }
  } else if (s.oidcAudience !== undefined) {
    problems.push('airlock:oidcAudience is set without airlock:oidcIssuer. Set both for your own identity provider, or neither for the Cognito user pool the stack creates.');
  }
  if (issuer && PLACEHOLDER_HOST.test(issuer.hostname)) {
    problems.push(`airlock:oidcIssuer "${s.oidcIssuer}" is a placeholder (a reserved example domain): set your identity provider's issuer URL (docs/deploy.md, "Identity provider").`);
  } else if (issuer && issuer.protocol !== 'https:') {
    problems.push(`airlock:oidcIssuer "${s.oidcIssuer}" must be https: its signing keys are fetched from it.`);
  }
  const tls = Boolean(s.listenerTlsSecretArn);
  if (s.internetFacing && !tls) {
    problems.push('airlock:internetFacing is true but airlock:listenerTlsSecretArn is not set: agents\' tokens would cross the Internet in clear (docs/deploy.md, "TLS").');
  }
  const open = (s.allowedClientCidrs ?? []).filter((c) => OPEN_CIDRS.includes(c));
  if (open.length > 0 && !tls) {
    problems.push(`airlock:allowedClientCidrs includes ${open.join(', ')} but airlock:listenerTlsSecretArn is not set: anyone could send tokens in clear. Set the certificate or narrow the CIDRs.`);
  }
  if (s.objectLockDays !== undefined) {
    problems.push('airlock:objectLockDays is gone: recordings are always locked for airlock:auditRetentionDays (docs/deploy.md, "Audit trail"). Remove it.');
  }
  if (s.auditRetentionDays !== undefined && !(Number.isInteger(s.auditRetentionDays) && s.auditRetentionDays >= 1)) {
    problems.push(`airlock:auditRetentionDays must be a whole number of days (≥ 1), not ${String(s.auditRetentionDays)}.`);
  }
  if (s.auditObjectLockMode !== undefined && !['compliance', 'governance'].includes(s.auditObjectLockMode)) {
    problems.push(`airlock:auditObjectLockMode must be compliance or governance, not ${String(s.auditObjectLockMode)}.`);
  }
  return problems;
}

export function assertDeployable(s: AirlockSettings): void {
  const problems = deployProblems(s);
  if (problems.length > 0) {
    throw new Error(`Airlock cannot be deployed with these settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
