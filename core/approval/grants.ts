// Standing grants: an approval "for this statement shape" or "for this session" for N minutes.
// Keys are deterministic so any process (or fleet task) can look a grant up without a scan.
import { createHash } from 'node:crypto';
import type { ApprovalRecord, ApprovalRequestInput, StandingGrant } from './types.js';

export const DEFAULT_GRANT_MINUTES = 15;
export const MAX_GRANT_MINUTES = 24 * 60;

type GrantSubject = Pick<ApprovalRequestInput, 'requester' | 'target' | 'sessionId' | 'shape'>;

function key(parts: string[]): string {
  return 'grant#' + createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** The grant keys that could cover this request: shape first, then session. */
export function grantKeysFor(subject: GrantSubject): { shape: string; session: string } {
  const who = [subject.requester.issuer, subject.requester.id, subject.target.name];
  return {
    shape: key(['shape', ...who, subject.shape]),
    session: key(['session', ...who, subject.sessionId]),
  };
}

/** The grant an approved record leaves behind, if its scope is wider than once. */
export function grantFromApproval(record: ApprovalRecord): StandingGrant | undefined {
  if (record.state !== 'approved' || record.scope === undefined || record.scope === 'once') return undefined;
  const keys = grantKeysFor(record);
  const minutes = record.scopeMinutes ?? DEFAULT_GRANT_MINUTES;
  return {
    key: record.scope === 'shape' ? keys.shape : keys.session,
    scope: record.scope,
    approvalId: record.id,
    reviewer: record.reviewer ?? 'unknown',
    expiresAt: (record.decidedAt ?? Date.now()) + minutes * 60_000,
  };
}

export function isGrantLive(grant: StandingGrant | undefined, now: number): grant is StandingGrant {
  return grant !== undefined && grant.expiresAt > now;
}

/** Looks up a live grant for this request (shape, then session). */
export async function findStandingGrant(
  getGrant: (key: string) => Promise<StandingGrant | undefined>,
  subject: GrantSubject,
  now: number,
): Promise<StandingGrant | undefined> {
  const keys = grantKeysFor(subject);
  for (const k of [keys.shape, keys.session]) {
    const grant = await getGrant(k);
    if (isGrantLive(grant, now)) return grant;
  }
  return undefined;
}
