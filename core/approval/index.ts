export type * from './types.js';
export { DEFAULT_APPROVAL_TIMEOUT_MS, isOverdue, newApprovalRecord, outcomeOf } from './record.js';
export { checkReviewer, checkReviewerFor } from './reviewer.js';
export { DEFAULT_GRANT_MINUTES, MAX_GRANT_MINUTES, findStandingGrant, grantFromApproval, grantKeysFor, isGrantLive } from './grants.js';
export { MAX_REASON_LENGTH, cancelApproval, decideApproval, expireApproval, parseDecision } from './decide.js';
export type { DecideResult } from './decide.js';
export { escapeHtml, toApprovalView } from './view.js';
export type { ApprovalView } from './view.js';
export { MemoryApprovalStore } from './memory-store.js';
