// HTTP has no login of its own: an audit session is one agent connection's requests to one target
// under one principal (HTTP/2 may carry several targets and tokens on one connection, so one
// connection may hold several). It starts at the first request (with the connect decision and the
// masking grant, decided once) and ends when the connection closes.
import type { Decision, Principal, TargetInfo } from '../../../../core/model.js';
import { auditPrincipal, newAuditSessionId, type ClientAddress } from '../../../../core/audit/events.js';
import { createMasker, type Masker } from '../../../../core/mask/index.js';
import type { EnginePorts } from '../../engine.js';
import type { HttpTarget } from './target.js';
import { taskUsable } from '../../../../core/task/service.js';

/** What a session needs of its target: the Kubernetes engine's targets share these sessions. */
export interface AuditedTarget {
  info: TargetInfo;
}

export interface HttpAuditSession {
  readonly sessionId: string;
  readonly principal: Principal;
  readonly target: AuditedTarget;
  /** Absent when the principal may see this target unmasked. */
  readonly masker?: Masker;
  /** The connect decision; a denied session refuses every request. */
  readonly connect: Decision;
  requests: number;
  bytesIn: number;
  bytesOut: number;
  ended: boolean;
  nextStatementId(): string;
}

/** The audit sessions of one agent connection. */
export class ConnectionSessions {
  private readonly sessions = new Map<string, Promise<HttpAuditSession>>();
  private readonly started = Date.now();
  /** Tokens this connection already presented, verified: a keep-alive agent pays for verification once per token. */
  private readonly verified = new Map<string, Principal>();

  constructor(
    private readonly ports: EnginePorts,
    private readonly client: ClientAddress,
    private readonly protocol: string,
  ) {}

  /** Verifies the token, or returns the principal it verified to earlier on this connection while it has not expired. */
  async principalFor(token: string, verify: (token: string) => Promise<Principal>): Promise<Principal> {
    const known = this.verified.get(token);
    // A task token's task may have ended since (closed, expired): verified again, it is then refused.
    if (known && (known.expiresAt === undefined || known.expiresAt * 1000 > Date.now()) && (!known.task || taskUsable(known.task).ok)) return known;
    this.verified.delete(token);
    const principal = await verify(token);
    if (this.verified.size >= 8) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, principal);
    return principal;
  }

  /** The session for (target, principal), started (and audited) on first use; rejects when the audit refuses. */
  get(target: AuditedTarget, principal: Principal): Promise<HttpAuditSession> {
    const key = JSON.stringify([target.info.name, principal.id, principal.tokenId ?? '', principal.issuer]);
    let s = this.sessions.get(key);
    if (!s) {
      s = this.start(target, principal);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  private async start(target: AuditedTarget, principal: Principal): Promise<HttpAuditSession> {
    const sessionId = newAuditSessionId();
    const policy = this.ports.policy();
    const connect = policy.authorizeConnect(principal, target.info);
    const unmasked = connect.effect === 'allow' && policy.authorizeUnmasked(principal, target.info).effect === 'allow';
    if (connect.effect === 'allow') {
      await this.ports.audit.append({
        type: 'session.start',
        sessionId,
        principal: auditPrincipal(principal),
        target: target.info.name,
        targetKind: target.info.kind,
        client: this.client,
        protocol: this.protocol,
      });
    } else {
      await this.ports.audit.append({ type: 'auth.refused', sessionId, code: 'connect_denied', reason: connect.reason, target: target.info.name, client: this.client });
    }
    let n = 0;
    return {
      sessionId,
      principal,
      target,
      masker: unmasked || !this.ports.masking.enabled ? undefined : createMasker(this.ports.masking),
      connect,
      requests: 0,
      bytesIn: 0,
      bytesOut: 0,
      ended: connect.effect !== 'allow',
      nextStatementId: () => `${sessionId}:${++n}`,
    };
  }

  /** The connection closed: every open session ends. */
  async close(reason: string): Promise<void> {
    for (const p of this.sessions.values()) {
      const s = await p.catch(() => undefined);
      if (!s || s.ended) continue;
      s.ended = true;
      await this.ports.audit
        .append({ type: 'session.end', sessionId: s.sessionId, reason, statements: s.requests, bytesIn: s.bytesIn, bytesOut: s.bytesOut, durationMs: Date.now() - this.started })
        .catch((err) => this.ports.log.error({ err: (err as Error).message }, 'audit of an HTTP session end failed'));
    }
    this.sessions.clear();
    this.verified.clear();
  }
}
