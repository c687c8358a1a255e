// Audit events as a gateway would append them, for tests of stores and readers.
import type { AuditEventInput } from '../../core/audit/events.js';

/** A PostgreSQL session's start; `at` defaults to the time of the append. */
export const sessionStart = (sessionId: string, principal: string, target: string, at?: string): AuditEventInput => ({
  type: 'session.start',
  sessionId,
  ...(at ? { at } : {}),
  principal: { id: principal, groups: ['agents'], issuer: 'https://idp.test' },
  target,
  targetKind: 'postgres',
  client: { address: '127.0.0.1', port: 5000 },
  protocol: 'postgres',
});

/** A statement event; `effect` defaults to allow. */
export const statementEvent = (sessionId: string, statementId: string, text: string, effect: 'allow' | 'deny' = 'allow'): AuditEventInput => ({
  type: 'statement',
  sessionId,
  statementId,
  text,
  class: 'read',
  statementTypes: ['SelectStmt'],
  tables: [],
  functions: [],
  decision: { effect, policyIds: ['p1'], policyVersion: 'v1', reason: effect === 'deny' ? 'forbidden' : 'ok' },
});
