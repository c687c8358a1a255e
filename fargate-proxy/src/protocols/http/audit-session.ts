// HTTP has no login of its own: an audit session is one agent connection's requests to one target
// under one principal (HTTP/2 may carry several targets and tokens on one connection, so one
// connection may hold several). It starts at the first request (with the connect decision and the
// masking grant, decided once) and ends when the connection closes — or when a task's end or the
// kill switch ends it (issue 32): its requests in flight are cancelled, later requests on the
// connection are refused with the contract's code, and a connection left with no live session is closed.
import type { Decision, Principal, TargetInfo } from '../../../../core/model.js';
import type { Refusal as ContractRefusal } from '../../../../core/refusal.js';
import { auditPrincipal, newAuditSessionId, type ClientAddress } from '../../../../core/audit/events.js';
import { createMasker, type Masker } from '../../../../core/mask/index.js';
import type { EnginePorts } from '../../engine.js';
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
  /** Why the gateway ended the session (task ended, kill switch): later requests get this refusal. */
  refusal?: ContractRefusal;
  /** Requests in flight, each with how to cancel it (answered with `refusal` when nothing was sent yet). */
  readonly inflight: Set<(r: ContractRefusal) => void>;
}

/** A session the live-session registry would not admit (task not covering the target, a budget). */
export class SessionRefused extends Error {
  constructor(readonly refusal: ContractRefusal) {
    super(refusal.message);
  }
}

/** The audit sessions of one agent connection. */
export class ConnectionSessions {
  private readonly sessions = new Map<string, Promise<HttpAuditSession>>();
  private readonly started = Date.now();
  /** Tokens this connection already presented, verified: a keep-alive agent pays for verification once per token. */
  private readonly verified = new Map<string, Principal>();

  /** Live-session registrations to release when the connection closes. */
  private readonly releases = new Set<() => void>();

  /** `terminate`: closes the agent's connection (ended sessions left it with nothing to carry). */
  constructor(
    private readonly ports: EnginePorts,
    private readonly client: ClientAddress,
    private readonly protocol: string,
    private readonly terminate: () => void = () => undefined,
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
    let n = 0;
    const session: HttpAuditSession = {
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
      inflight: new Set(),
    };
    let release: (() => void) | undefined;
    if (connect.effect === 'allow') {
      // Issue 32: a task token must cover this target and sessions be left; registered, the session
      // is reached by the task's end and the kill switch.
      const admission = await this.ports.sessions?.admit({ sessionId, principal, target: target.info.name, protocol: this.protocol, startedAt: Date.now(), end: (r) => void this.endSession(session, r) });
      if (admission && !admission.ok) {
        await this.ports.audit.append({ type: 'auth.refused', sessionId, code: admission.refusal.code, reason: admission.refusal.message, target: target.info.name, client: this.client });
        throw new SessionRefused(admission.refusal);
      }
      release = admission?.release;
      if (release) this.releases.add(release);
    }
    try {
      if (connect.effect === 'allow') await this.ports.audit.append({
        type: 'session.start',
        sessionId,
        principal: auditPrincipal(principal),
        target: target.info.name,
        targetKind: target.info.kind,
        client: this.client,
        protocol: this.protocol,
      });
      else await this.ports.audit.append({ type: 'auth.refused', sessionId, code: 'connect_denied', reason: connect.reason, target: target.info.name, client: this.client });
    } catch (err) {
      release?.();
      throw err;
    }
    return session;
  }

  /**
   * The gateway ends one session (its task ended, the kill switch): audited with the contract's
   * code, its requests in flight cancelled; the connection closes when no live session is left on it.
   */
  private async endSession(s: HttpAuditSession, refusal: ContractRefusal): Promise<void> {
    if (s.ended) return;
    s.ended = true;
    s.refusal = refusal;
    for (const cancel of s.inflight) cancel(refusal);
    s.inflight.clear();
    let live = false;
    for (const p of this.sessions.values()) {
      const other = await p.catch(() => undefined);
      if (other && other !== s && !other.ended) live = true;
    }
    if (!live) this.terminate();
    await this.ports.audit
      .append({ type: 'session.end', sessionId: s.sessionId, reason: `${refusal.code}: ${refusal.message}`, statements: s.requests, bytesIn: s.bytesIn, bytesOut: s.bytesOut, durationMs: Date.now() - this.started })
      .catch((err) => this.ports.log.error({ err: (err as Error).message }, 'audit of an HTTP session end failed'));
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
    for (const release of this.releases) release();
    this.releases.clear();
  }
}
