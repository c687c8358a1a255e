// One client connection, from its first byte to its last: the start-up handshake (TLS, token login,
// connect authorisation, upstream login), then the relay.
import net from 'node:net';
import tls from 'node:tls';
import { randomUUID } from 'node:crypto';
import type { Principal, StatementInspection } from '../../../../core/model.js';
import { TokenRejectedError } from '../../../../core/identity/index.js';
import { createMasker, type Masker } from '../../../../core/mask/index.js';
import { auditPrincipal, newAuditSessionId } from '../../../../core/audit/events.js';
import type { GatewayContext, PostgresTarget } from '../../context.js';
import type { Secret } from '../../ports/secrets.js';
import {
  authenticationCleartextPassword,
  authenticationOk,
  backendKeyData,
  errorResponse,
  negotiateProtocolVersion,
  parameterStatus,
  readyForQuery,
} from './backend.js';
import { CancelRegistry } from './cancel-registry.js';
import { forwardCancel } from './cancel-forwarding.js';
import type { FleetMembership } from '../../ports/fleet.js';
import type { ProcessSiblings } from '../../ports/processes.js';
import { endAndDrain } from './closing.js';
import { CLIENT_ENCODING, clientEncodingRefusal } from './client-encoding.js';
import { DEFAULT_STATEMENT_LIMITS, type StatementLimits } from './off-loop-inspection.js';
import { SQLSTATE } from './errors.js';
import { FrameReader, MalformedMessageError, MessageTooLargeError, type Frame } from './framer.js';
import { F, decodePassword, decodeStartup, type StartupPacket } from './frontend.js';
import { closeUpstream, connectUpstream, queryUpstream, sendUpstreamCancel, UpstreamAuthError, type UpstreamConnection } from './upstream.js';
import { SESSION_QUERY } from '../../../../core/classify/target-catalog.js';
import { SqlSessionScope } from '../../../../core/classify/session-scope.js';
import { TargetCatalogs } from './target-catalogs.js';
import { MaskedColumnRegistry } from './masked-columns.js';
import { Relay } from './relay.js';
import { loginSqlstate } from './refusal.js';
import { refusalDetail, type Refusal as AirlockRefusal } from '../../../../core/refusal.js';

export interface PostgresListenerOptions {
  tls?: tls.SecureContext;
  allowPlaintext: boolean;
  maxMessageBytes: number;
  authTimeoutMs: number;
  statementLimits?: StatementLimits;
  /** The fleet this task belongs to: cancels for sessions other tasks hold are forwarded to them. */
  fleet?: FleetMembership;
  /** The other gateway processes of this task: cancels for their sessions (or other tasks') go through the supervisor. */
  siblings?: ProcessSiblings;
}

/** Startup parameters passed on to the upstream. Anything else (options, replication, …) is refused. */
const FORWARDED_PARAMETERS = new Set(['application_name', 'client_encoding', 'DateStyle', 'TimeZone', 'extra_float_digits', 'IntervalStyle']);
const IDENTITY_PARAMETERS = new Set(['user', 'database']);

class Refusal extends Error {
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly auditCode: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** Reads startup-phase and authentication messages one at a time, with a deadline. */
class HandshakeReader {
  readonly frames: FrameReader;
  #waiter: (() => void) | undefined;
  #ended: Error | undefined;

  constructor(
    public socket: net.Socket,
    maxMessageBytes: number,
  ) {
    this.frames = new FrameReader(maxMessageBytes);
    this.attach(socket);
  }

  attach(socket: net.Socket): void {
    this.socket = socket;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
  }

  detach(): void {
    this.socket.off('data', this.#onData);
    this.socket.off('end', this.#onEnd);
    this.socket.off('close', this.#onEnd);
    this.socket.off('error', this.#onError);
  }

  #onData = (chunk: Buffer) => {
    this.frames.push(chunk);
    this.#wake();
  };
  #onEnd = () => {
    this.#ended ??= new Error('client closed the connection');
    this.#wake();
  };
  #onError = (err: Error) => {
    this.#ended ??= err;
    this.#wake();
  };
  #wake() {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  async next(): Promise<Frame> {
    for (;;) {
      const frame = this.frames.next();
      if (frame) return frame;
      if (this.#ended) throw this.#ended;
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }
}

export class PostgresSessionHandler {
  readonly cancels: CancelRegistry;
  readonly #live = new Set<Relay>();
  /** Per target: relations and the names that could shadow built-ins (see core/classify/session-scope.ts). */
  readonly catalogs: TargetCatalogs;
  /** Per target: which columns are masked (column rules, detector hits), for policy's masked-column facts. */
  readonly maskedColumns: MaskedColumnRegistry;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly opts: PostgresListenerOptions,
  ) {
    this.catalogs = new TargetCatalogs(ctx.log);
    this.maskedColumns = new MaskedColumnRegistry(ctx.masking.columnRules ?? [], ctx.log);
    this.cancels = new CancelRegistry(opts.siblings?.fleetTag ?? opts.fleet?.tag ?? 0, opts.siblings?.index ?? 0);
    opts.siblings?.onCancel((processId, secretKey) => this.cancels.cancel(processId, secretKey));
  }

  /** Logins still in progress, each with how to end it (gateway shutdown). */
  readonly #handshakes = new Set<(reason: string) => void>();
  /** Draining or closing: logins that complete from now on are refused with 57P03. */
  #admitting = true;
  #closing?: string;

  get liveSessions(): number {
    return this.#live.size;
  }

  /** Draining: live sessions carry on; a login that completes now is refused (57P03) and audited. */
  stopAdmitting(): void {
    this.#admitting = false;
  }

  /**
   * Ends every live session and every login in progress (gateway shutdown). A session whose login
   * was past the admission check is ended as soon as it registers, so none outlives the shutdown.
   */
  closeAll(reason: string): void {
    this.catalogs.close();
    this.maskedColumns.close();
    this.#admitting = false;
    this.#closing = reason;
    for (const relay of this.#live) relay.terminate(reason);
    for (const end of this.#handshakes) end(reason);
  }

  handle(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000); // held statements wait on idle connections: keep NATs and NLBs from dropping them
    const sessionId = newAuditSessionId();
    const client = { address: socket.remoteAddress ?? 'unknown', port: socket.remotePort ?? 0 };
    const log = this.ctx.log.child({ sessionId, client: `${client.address}:${client.port}` });
    const reader = new HandshakeReader(socket, this.opts.maxMessageBytes);
    const deadline = setTimeout(() => reader.socket.destroy(), this.opts.authTimeoutMs);
    let target: string | undefined;
    /** Set when the gateway shut down during this login: the refusal is already sent and audited. */
    let ended = false;
    const shuttingDown = (reason: string) =>
      new Refusal(SQLSTATE.cannotConnectNow, `Airlock is not accepting sessions: ${reason}`, 'shutting_down');
    const endLogin = (reason: string) => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      // The client is told why; one that never closes its end is cut off shortly after.
      void refuse(shuttingDown(reason)).finally(() => setTimeout(() => reader.socket.destroy(), 1000).unref());
    };
    this.#handshakes.add(endLogin);

    /** `arriving`: the size of a refused message the client is still sending. */
    const refuse = async (r: Refusal, arriving = 0) => {
      log.info({ code: r.auditCode, sqlstate: r.sqlstate }, 'connection refused');
      await this.ctx.audit
        .append({ type: 'auth.refused', sessionId, code: r.auditCode, reason: r.message, target, client })
        .catch((err) => log.error({ err: (err as Error).message }, 'audit of a refused connection failed'));
      reader.detach();
      const unreceived = arriving - reader.frames.bufferedBytes;
      endAndDrain(reader.socket, errorResponse({ severity: 'FATAL', code: r.sqlstate, message: r.message, detail: r.detail }), unreceived);
    };

    /** Set while this login holds a place among the live sessions, until the relay owns it. */
    let releaseLive: (() => void) | undefined;
    const run = async (): Promise<void> => {
      // --- start-up packets: SSLRequest / GSSENCRequest / CancelRequest / StartupMessage
      let secured = false;
      let startup: Extract<StartupPacket, { kind: 'startup' }> | undefined;
      while (!startup) {
        const packet = decodeStartup((await reader.next()).body);
        if (packet.kind === 'ssl') {
          if (secured) throw new Refusal(SQLSTATE.protocolViolation, 'SSLRequest after TLS is established', 'protocol');
          if (!this.opts.tls) {
            socket.write('N');
            continue;
          }
          if (reader.frames.bufferedBytes > 0) throw new Refusal(SQLSTATE.protocolViolation, 'unexpected data after SSLRequest', 'protocol');
          reader.detach();
          socket.write('S');
          const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: this.opts.tls });
          reader.attach(secure);
          secured = true;
        } else if (packet.kind === 'gssenc') {
          socket.write('N'); // GSSAPI encryption is not offered; the client falls back to TLS or plain
        } else if (packet.kind === 'cancel') {
          clearTimeout(deadline);
          const { fleet, siblings } = this.opts;
          if (siblings && (this.cancels.isForeign(packet.processId) || this.cancels.isSibling(packet.processId))) siblings.forwardCancel(packet.processId, packet.secretKey);
          else if (fleet && this.cancels.isForeign(packet.processId)) void forwardCancel(fleet, packet.processId, packet.secretKey, log);
          else this.cancels.cancel(packet.processId, packet.secretKey);
          reader.socket.end(); // the protocol says nothing is sent back for a cancel
          return;
        } else if (packet.kind === 'startup') {
          startup = packet;
        } else {
          throw new Refusal(SQLSTATE.protocolViolation, `unsupported frontend protocol ${packet.code >>> 16}.${packet.code & 0xffff}: Airlock speaks 3.0`, 'protocol');
        }
      }
      reader.frames.startup = false;
      if (!secured && !this.opts.allowPlaintext) {
        throw new Refusal(SQLSTATE.invalidAuthorization, 'Airlock requires TLS: connect with sslmode=require', 'tls_required');
      }

      const unrecognised = [...startup.params.keys()].filter((k) => k.startsWith('_pq_.'));
      if (startup.minor > 0 || unrecognised.length) reader.socket.write(negotiateProtocolVersion(0, unrecognised));
      const user = startup.params.get('user');
      if (!user) throw new Refusal(SQLSTATE.invalidAuthorization, 'no user name given in the startup packet', 'protocol');
      target = startup.params.get('database') || user;
      const forwarded = new Map<string, string>();
      for (const [name, value] of startup.params) {
        if (IDENTITY_PARAMETERS.has(name) || name.startsWith('_pq_.')) continue;
        if (!FORWARDED_PARAMETERS.has(name)) {
          throw new Refusal(SQLSTATE.connectionRejected, `startup parameter "${name}" is not allowed through Airlock`, 'startup_parameter', 'Allowed: ' + [...FORWARDED_PARAMETERS].join(', '));
        }
        forwarded.set(name, value);
      }
      const encoding = clientEncodingRefusal(forwarded.get('client_encoding') ?? CLIENT_ENCODING);
      if (encoding) throw new Refusal(encoding.code, encoding.message, 'client_encoding', encoding.hint);
      // Always asked for: the database's own encoding would otherwise be the session's default.
      forwarded.set('client_encoding', CLIENT_ENCODING);

      // --- token login: the password is the agent's access token
      reader.socket.write(authenticationCleartextPassword());
      const passwordFrame = await reader.next();
      if (passwordFrame.type !== F.Password) throw new Refusal(SQLSTATE.protocolViolation, 'expected a password message', 'protocol');
      const token = decodePassword(passwordFrame.body);
      let principal: Principal;
      try {
        principal = await this.ctx.verifier.verify(token);
      } catch (err) {
        if (err instanceof TokenRejectedError) {
          const sqlstate = err.code === 'jwks_unavailable' ? SQLSTATE.cannotConnectNow : SQLSTATE.invalidPassword;
          throw new Refusal(sqlstate, `access token rejected: ${err.message}`, `token_${err.code}`);
        }
        throw err;
      }

      const found = this.ctx.postgresTargets.get(target);
      if (!found) throw new Refusal(SQLSTATE.unknownDatabase, `target "${target}" does not exist`, 'unknown_target');
      const policy = this.ctx.policy();
      const grant = policy.authorizeConnect(principal, found.info);
      if (grant.effect !== 'allow') {
        throw new Refusal(SQLSTATE.invalidAuthorization, `${principal.id} may not connect to target "${target}": ${grant.reason}`, 'connect_denied', `policy version ${policy.version}`);
      }
      const health = this.ctx.audit.health();
      if (!health.ok) throw new Refusal(SQLSTATE.cannotConnectNow, `the audit trail is unavailable (${health.reason}): Airlock refuses new sessions`, 'audit_unavailable');
      if (!this.#admitting) throw shuttingDown(this.#closing ?? 'the gateway is draining');
      // Issue 32: a task token must name this target and have sessions left; the session is
      // registered so that a task's end or the kill switch reaches it.
      let endLive: (r: AirlockRefusal) => void = (r) => (preEnded = r);
      let preEnded: AirlockRefusal | undefined;
      const admission = await this.ctx.sessions?.admit({ sessionId, principal, target: found.info.name, protocol: 'postgres', startedAt: Date.now(), end: (r) => endLive(r) });
      if (admission && !admission.ok) throw new Refusal(loginSqlstate(admission.refusal), admission.refusal.message, admission.refusal.code, refusalDetail(admission.refusal));
      releaseLive = admission?.release;

      // --- upstream: the real credential, in memory only. A principal whom policy lets do nothing
      // but read gets a session the server itself keeps read-only: a write the classifier missed
      // (a view calling a function that writes, say) is then refused by PostgreSQL (25006).
      const readOnly = readOnlyFor(policy, principal, found);
      if (readOnly) forwarded.set('default_transaction_read_only', 'on');
      const upstream = await this.#openUpstream(found, forwarded, log, readOnly);
      if (ended) {
        upstream.socket.destroy();
        return;
      }
      // Masked unless policy explicitly lets this principal see this target's data as stored.
      const masked = this.ctx.masking.enabled && policy.authorizeUnmasked(principal, found.info).effect !== 'allow';
      let names: SqlSessionScope;
      try {
        names = await this.#sessionNames(found, upstream, log, (s) => this.ctx.policy().authorizeStatement(principal, found.info, s).effect !== 'deny', masked);
      } catch (err) {
        upstream.socket.destroy();
        throw new Refusal(SQLSTATE.cannotConnectNow, `cannot read the catalog of target "${found.info.name}": ${(err as Error).message}`, 'catalog_unavailable');
      }
      if (ended) {
        upstream.socket.destroy();
        return;
      }
      this.#handshakes.delete(endLogin);
      clearTimeout(deadline);
      try {
        await this.ctx.audit.append({
          type: 'session.start',
          sessionId,
          principal: auditPrincipal(principal),
          target: found.info.name,
          targetKind: 'postgres',
          client,
          protocol: 'postgres',
        });
      } catch (err) {
        upstream.socket.destroy();
        throw new Refusal(SQLSTATE.cannotConnectNow, `the audit trail is unavailable: ${(err as Error).message}`, 'audit_unavailable');
      }

      const masker: Masker | undefined = masked ? createMasker(this.ctx.masking) : undefined;
      const lookUpOpen = () => this.#openUpstream(found, new Map([['default_transaction_read_only', 'on']]), log, true);

      reader.detach();
      const inspector = this.ctx.sql;
      const relay = new Relay({
        masker,
        onDetectorHit: masker && ((oid, attnum) => this.maskedColumns.detectorHit(found.info.name, oid, attnum, lookUpOpen, closeUpstream)),
        ruleColumnAt: masker && ((oid, attnum) => this.maskedColumns.ruleColumnAt(found.info.name, oid, attnum)),
        // Statements are inspected as everywhere, then their names resolved for this session.
        ctx: { ...this.ctx, sql: { inspect: (sql, prepared) => names.apply(inspector.inspect(sql, prepared)), resolve: (i) => names.apply(i), resolveAgain: (i) => names.resolveAgain(i) } },
        log,
        sessionId,
        principal,
        target: found,
        client: reader.socket,
        upstream,
        maxMessageBytes: this.opts.maxMessageBytes,
        statementLimits: this.opts.statementLimits ?? DEFAULT_STATEMENT_LIMITS,
        pending: reader.frames,
      });
      const key = this.cancels.register(() => relay.cancel(() => sendUpstreamCancel(found.upstream, upstream.processId, upstream.secretKey)));
      this.#live.add(relay);
      const release = releaseLive;
      releaseLive = undefined;
      relay.onClose(() => {
        key.release();
        this.#live.delete(relay);
        release?.();
      });
      endLive = (r) => relay.end(r);
      // Shutdown came while session.start was being written: end it like every other live session.
      if (this.#closing !== undefined) {
        relay.start();
        return relay.terminate(this.#closing);
      }
      const hello = [authenticationOk()];
      for (const [k, v] of upstream.parameters) hello.push(parameterStatus(k, v));
      hello.push(backendKeyData(key.processId, key.secretKey), readyForQuery(upstream.status));
      reader.socket.write(Buffer.concat(hello));
      log.info({ principal: principal.id, target: found.info.name }, 'session started');
      relay.start();
      if (preEnded) relay.end(preEnded);
    };

    run().catch(async (err: unknown) => {
      clearTimeout(deadline);
      releaseLive?.();
      if (ended) return; // refused and audited by endLogin, which also closes the socket
      if (err instanceof Refusal) return refuse(err);
      if (err instanceof MessageTooLargeError) return refuse(new Refusal(SQLSTATE.programLimitExceeded, err.message, 'message_too_large'), err.total);
      if (err instanceof MalformedMessageError) return refuse(new Refusal(SQLSTATE.protocolViolation, `invalid startup packet: ${err.message}`, 'protocol'));
      const message = (err as Error)?.message ?? String(err);
      if (reader.socket.destroyed || /client closed/.test(message)) {
        log.debug({ err: message }, 'client left during start-up');
        reader.socket.destroy(); // half-open sockets are allowed: close our side too
        return;
      }
      log.warn({ err: message }, 'session start-up failed');
      return refuse(new Refusal(SQLSTATE.cannotConnect, `cannot open a session on target "${target}": ${message}`, 'upstream_unavailable'));
    }).finally(() => {
      this.#handshakes.delete(endLogin);
      // A login ended while it was being admitted or opened upstream: its place (a fleet slot too) goes back.
      releaseLive?.();
    });
  }

  /**
   * Who the session is and its search_path, read on its own connection; the target's catalog,
   * read there too when the cache has none or an old one. DDL the session sends has the catalog
   * read again on a connection of its own.
   */
  async #sessionNames(
    target: PostgresTarget,
    upstream: UpstreamConnection,
    log: GatewayContext['log'],
    mayRun: (s: StatementInspection) => boolean,
    masked: boolean,
  ): Promise<SqlSessionScope> {
    const name = target.info.name;
    await this.catalogs.ensure(name, upstream);
    if (masked) await this.maskedColumns.ensureRuleColumns(name, upstream);
    const [row] = await queryUpstream(upstream, SESSION_QUERY, 1);
    const open = () => this.#openUpstream(target, new Map([['default_transaction_read_only', 'on']]), log, true);
    return new SqlSessionScope({
      user: row?.[0] ?? '',
      searchPath: row?.[1] ?? '',
      catalog: () => {
        this.catalogs.refreshIfStale(name, open, closeUpstream);
        return this.catalogs.get(name);
      },
      onCatalogChange: () => this.catalogs.refreshSoon(name, open, closeUpstream),
      mayRun,
      ...(masked ? { masked: () => this.maskedColumns.of(name) } : {}),
    });
  }

  /** Logs in upstream; an authentication failure gets one retry with a freshly fetched credential (rotation). */
  async #openUpstream(target: PostgresTarget, params: Map<string, string>, log: GatewayContext['log'], readOnly = false): Promise<UpstreamConnection> {
    // A read-only principal logs in with the target's read-only role when it has one.
    const role = readOnly && target.readOnly ? target.readOnly : { user: target.upstream.user, credentialRef: target.credentialRef };
    const spec = { ...target.upstream, user: role.user };
    let credential: Secret = await this.ctx.secrets.get(role.credentialRef);
    try {
      return await connectUpstream(spec, credential, params);
    } catch (err) {
      if (!(err instanceof UpstreamAuthError)) throw err;
      log.info({ target: target.info.name }, 'upstream rejected the cached credential; fetching it again once');
      credential = await this.ctx.secrets.get(role.credentialRef, { refresh: true });
      return connectUpstream(spec, credential, params);
    }
  }
}

export const newStatementId = (): string => randomUUID();

/** Classes that change something; a principal for whom policy denies them all can only read. */
const CHANGING_CLASSES = ['write', 'ddl', 'destructive', 'privileged', 'opaque'] as const;

/**
 * True when policy denies this principal every changing statement on the target, judged on the
 * plainest statement of each class (no tables, no functions). Allow-lists of tables
 * (`["public.jobs"].containsAll(context.tables)`) and exceptions (`unless { … }`) permit that plain
 * statement, so their sessions stay writable; a permit that *requires* a fact
 * (`when { context.tables.contains("public.jobs") }`) does not, and its principals get read-only
 * sessions: write such rules as allow-lists (docs/policy.md).
 */
export function readOnlyFor(policy: ReturnType<GatewayContext['policy']>, principal: Principal, target: PostgresTarget): boolean {
  return CHANGING_CLASSES.every((cls) => {
    const probe: StatementInspection = { class: cls, statementTypes: [], tables: [], functions: [], dmlWithoutWhere: false, reasons: [], text: '' };
    return policy.authorizeStatement(principal, target.info, probe).effect === 'deny';
  });
}
