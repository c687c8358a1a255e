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
