// What the supervisor and the gateway processes of one task say to each other over node:cluster's
// IPC channel (JSON). Secrets never cross it: a cancel key is the client's own, not a credential.
import type { GatewayAddresses } from '../cli/gateway-record.js';

export type ToSupervisor =
  /** The process's listeners are up (all processes share the same ports). */
  | { airlock: 'ready'; addresses: GatewayAddresses }
  /** A CancelRequest this process received for a session it does not hold. */
  | { airlock: 'cancel'; processId: number; secretKey: string }
  /** The process's live sessions, sent when the count changes. */
  | { airlock: 'sessions'; count: number };

export type ToProcess =
  /** A cancel for a session this process holds (secretKey: base64). */
  | { airlock: 'cancel'; processId: number; secretKey: string }
  /** Drain for at most `drainMs`, then close and exit (SIGTERM or SIGINT reached the supervisor). */
  | { airlock: 'shutdown'; drainMs: number };

export const PROCESS_INDEX_ENV = 'AIRLOCK_PROCESS_INDEX';
export const PROCESS_COUNT_ENV = 'AIRLOCK_PROCESS_COUNT';
export const FLEET_TAG_ENV = 'AIRLOCK_FLEET_TAG';

export function isMessage<T extends { airlock: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { airlock?: unknown }).airlock === 'string';
}
