// The steady state of a session: every client message is framed, statements are inspected and
// decided before they are forwarded, and the upstream's answers are relayed by header with the
// gateway's own answers (refusals, notices) slipped in at message boundaries, in protocol order.
import type net from 'node:net';
import { serialize } from 'pg-protocol';
import type { Logger } from 'pino';
import type { Decision, Inspection, Principal, StatementInspection } from '../../../../core/model.js';
import type { PendingApproval } from '../../../../core/approval/types.js';
import type { Masker } from '../../../../core/mask/index.js';
import { pushJoined } from '../../../../core/bytes.js';
import type { Refusal as AirlockRefusal } from '../../../../core/refusal.js';
import { maskSqlParameter } from '../../../../core/audit/sql-literals.js';
import type { GatewayContext, PostgresTarget } from '../../context.js';
import { holdForApproval, type HoldContext } from './approval-hold.js';
import { B, decodeCommandTag, decodeFields, decodeParameterStatus, errorResponse, readyForQuery, type TransactionStatus } from './backend.js';
import type { RewriteSlab } from './rewrite-slab.js';
import { BackendScanner, type ScanAction, type ScanHandler } from './backend-scanner.js';
import { ClientOutput, writeTogether } from './client-output.js';
import { endAndDrain } from './closing.js';
import { clientEncodingRefusal, type EncodingRefusal } from './client-encoding.js';
import { SQLSTATE } from './errors.js';
import { FrameReader, MalformedMessageError, MessageTooLargeError, type Frame } from './framer.js';
import { userParameterTypes, withUserParameterTypes } from './parameter-types.js';
import { F, decodeBind, decodeExecute, decodeFunctionCall, decodeParse, decodeQuery, decodeTarget, type ParseMessage } from './frontend.js';
import type { InspectResult } from './inspect-worker.js';
import type { StatementLimits } from './off-loop-inspection.js';
import { Refused, auditRefusal, parseRefusal, policyRefusal, sessionEndRefusal, statementRefusal } from './refusal.js';
import { ResultMasker, type DetectorHitListener } from './result-masking.js';
import { RowsAffectedGuard } from './rows-affected-guard.js';
import { SessionNames, type Prepared, type Unconfirmed } from './session-names.js';
import { StatementAudit } from './statement-audit.js';
import { StatementDecisions, type Decided } from './statement-decisions.js';
import { StatementInspector } from './statement-inspection.js';
import { ResponseUnit } from './statement-units.js';
import { checkTaskBudget, countCommandTag } from './task-limits.js';
import type { UpstreamConnection } from './upstream.js';

export interface RelayOptions {
  ctx: GatewayContext;
  log: Logger;
  sessionId: string;
  principal: Principal;
  target: PostgresTarget;
  client: net.Socket;
  upstream: UpstreamConnection;
  maxMessageBytes: number;
  /** Sizes past which statements are inspected off the event loop, or refused. */
  statementLimits: StatementLimits;
  /** The handshake's reader: it may already hold messages the client pipelined after its password. */
  pending: FrameReader;
  /** This session's masker; absent when its responses go unmasked. */
  masker?: Masker;
  /** Told which table columns detectors found sensitive values in (masked-columns.ts). */
  onDetectorHit?: DetectorHitListener;
  /** The rule-matched column a result column comes from (masked-columns.ts). */
  ruleColumnAt?: (tableOid: number, attnum: number) => string | undefined;
}

/**
 * A result that is a promise only when something had to wait (an approval, an awaited audit
 * append). The common path (allowed, audited with `appendNow`) stays synchronous, so a statement
 * is forwarded from the socket's own callback, with no promise made and no microtask to run.
 */
type MaybePromise<T> = T | Promise<T>;

/** How a parameter sent in binary format is recorded: its bytes are not read. */
const BINARY_PARAMETER = "'***'";
/** Messages handled in one synchronous run before the pump yields to other sessions. */
const MAX_FRAMES_PER_TURN = 256;
// Batches of extended-protocol messages are decided as a whole at Sync/Flush; beyond these sizes
// they are decided early so a client that never syncs cannot make the gateway buffer without bound.
const MAX_BATCH_BYTES = 1024 * 1024;
const MAX_BATCH_MESSAGES = 1000;
const CLIENT_READ_HIGH_WATER = 1024 * 1024;
const POISON_PORTAL = 'airlock: refused';
// What a session relays from its upstream before it lets other sessions run: one read (up to 64 KiB,
// about 2 ms of masking) when its results are masked, more when they pass through.
const MASKED_BYTES_PER_TURN = 32 * 1024;
const BYTES_PER_TURN = 1024 * 1024;
/** Lets other sessions' events run before this session carries on. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** `#guardMessage` leaves the message to the ordinary path. */
const NOT_GUARDED = Symbol('not guarded');

export class Relay implements ScanHandler {
  readonly #o: RelayOptions;
  readonly #client: net.Socket;
  readonly #upstream: net.Socket;
  readonly #reader: FrameReader;
  readonly #scanner = new BackendScanner();
  #txStatus: TransactionStatus;

  // Ordering: every Query/Sync/FunctionCall forwarded earns exactly one ReadyForQuery.
  #zForwarded = 0;
  #zReceived = 0;
  #forwardedSinceSync = false;
  #discarding = false;
  readonly #out: ClientOutput;
  #substitutions: { epoch: number; error: Buffer }[] = [];
  #finished: ResponseUnit[] = []; // answered units whose outcomes are audited once the chunk is written
  /** Bytes relayed from the upstream since this session last let the loop go (`#shareTheLoop`). */
  #relayedSinceYield = 0;
  #yielding = false;

  #batch: Frame[] = [];
  #batchBytes = 0;
  readonly #names = new SessionNames();
  readonly #decisions: StatementDecisions;
  readonly #audit: StatementAudit;
  readonly #inspector: StatementInspector;
  readonly #hold: HoldContext;

  #units: ResponseUnit[] = [];
  #openUnit: ResponseUnit | undefined;
  #statementSeq = 0;
  /** The SQL the client sent for what is being decided: where the agent's `airlock-reason` comment is. */
  #source = '';

  /** Held statements whose event was appended before the hold: not appended again once approved. */
  #recordedBeforeHold = new Set<string>();
  #pumping = false;
  #closed = false;
  /** Set when the upstream reports a client encoding the gateway cannot read: the session ends. */
  #encodingLost: string | undefined;
  /** The client half-closed: answer what it sent, then close (as a server does on EOF). */
  #clientEnded = false;
  #holding: PendingApproval | undefined;
  #closeHandlers: (() => void)[] = [];
  #stats = { statements: 0, bytesIn: 0, startedAt: Date.now() };
  // --- tasks (issue 32) ---
  /** The DML running under the gateway's savepoint; nothing else is forwarded meanwhile. */
  #guard: RowsAffectedGuard | undefined;
  /** Rows the statement just admitted may affect: forwarding it starts a guard. */
  #pendingGuard: number | undefined;
  /** In a fleet, the rows-affected reservation taken for the guarded write (settled when it finishes). */
  #fleetReserved: number | undefined;
  /** Whether the run being decided ends with Sync (a Query always does). */
  #decidingEndsWithSync = true;
  /** Undefined when masking is off or policy lets this principal see the target unmasked. */
  readonly #mask: ResultMasker | undefined;

  constructor(o: RelayOptions) {
    this.#o = o;
    this.#client = o.client;
    this.#upstream = o.upstream.socket;
    this.#reader = o.pending;
    this.#txStatus = o.upstream.status;
    this.#mask = o.masker && new ResultMasker(o.masker, o.onDetectorHit, o.ruleColumnAt);
    this.#out = new ClientOutput(o.client);
    this.#decisions = new StatementDecisions(o.ctx, o.principal, o.target);
    this.#audit = new StatementAudit(o.ctx, o.log, o.sessionId);
    this.#inspector = new StatementInspector(o.ctx, o.statementLimits, this.#names.sqlPrepared, this.#audit, () => this.#nextStatementId());
    this.#hold = {
      ctx: o.ctx,
      principal: o.principal,
      target: o.target,
      sessionId: o.sessionId,
      masker: o.masker,
      audit: this.#audit,
      recordedBeforeHold: this.#recordedBeforeHold,
      source: () => this.#source,
      policyError: (s, d, why) => this.#policyError(s, d, why),
      notice: (buf) => this.#enqueue(buf, false),
      holding: (p) => (this.#holding = p),
    };
  }

  onClose(fn: () => void): void {
    this.#closeHandlers.push(fn);
  }

  start(): void {
    this.#client.on('data', (chunk: Buffer) => {
      if (this.#closed) return; // a closed session's input is drained and discarded (closing.ts)
      this.#stats.bytesIn += chunk.length;
      this.#reader.push(chunk);
      if (this.#reader.bufferedBytes > CLIENT_READ_HIGH_WATER) this.#client.pause();
      this.#pump();
    });
    this.#client.on('end', () => {
      this.#clientEnded = true;
      // Nobody is left to run a held statement for: withdraw its request.
      if (this.#holding) void this.#holding.cancel('client disconnected');
      this.#maybeFinish();
    });
    this.#client.on('close', () => this.#shutdown('client disconnected'));
    this.#client.on('error', (err) => this.#shutdown(`client error: ${err.message}`));
    this.#client.on('drain', () => this.#upstream.resume());
    this.#upstream.on('end', () => this.#shutdown('upstream closed the connection'));
    this.#upstream.on('close', () => this.#shutdown('upstream closed the connection'));
    this.#upstream.on('error', (err) => this.#shutdown(`upstream error: ${err.message}`));
    for (const early of this.#o.upstream.leftover) this.#fromUpstream(early);
    const reads = this.#o.upstream.reads;
    reads.consume(this.#upstream, reads.reused ? (chunk) => this.#fromReusedRead(chunk) : (chunk) => this.#fromUpstream(chunk));
    this.#upstream.resume();
    this.#client.resume();
    this.#pump();
  }

  /** A CancelRequest for this session: withdraw a held statement, or pass the cancel upstream. */
  cancel(upstreamCancel: () => Promise<void>): void {
    if (this.#holding) void this.#holding.cancel('cancelled by the client');
    else void upstreamCancel();
  }

  /** Ends the session with a refusal of the one contract (task ended, kill switch); audited as the end reason. */
  end(r: AirlockRefusal): void {
    if (this.#closed) return;
    this.#out.write(sessionEndRefusal(r));
    this.#shutdown(`${r.code}: ${r.message}`);
  }

  terminate(reason: string): void {
    if (this.#closed) return;
    this.#out.write(errorResponse({ severity: 'FATAL', code: '57P01', message: `Airlock is closing this session: ${reason}` }));
    this.#shutdown(reason);
  }

  // ---------------------------------------------------------------- client → upstream

  /**
   * Handles every complete message the client sent, in order. Runs synchronously while each message
   * is dealt with at once (the common path: allowed, audited with appendNow, forwarded), so the
   * socket's callback makes no promise; the first message that must wait hands the rest of the
   * run to #pumpAfter.
   */
  #pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    let handedOver = false;
    try {
      handedOver = this.#pumpFrom(undefined);
    } catch (err) {
      this.#pumpFailed(err as Error);
    } finally {
      if (!handedOver) this.#pumping = false;
    }
    if (!handedOver) this.#maybeFinish();
  }

  /** The synchronous loop; true when it handed the run to #pumpAfter (which ends it). */
  #pumpFrom(pending: Promise<unknown> | undefined): boolean {
    if (pending) {
      void this.#pumpAfter(pending);
      return true;
    }
    for (let count = 0; ; count++) {
      // A client that pipelines thousands of small messages yields the loop now and then.
      if (count === MAX_FRAMES_PER_TURN) return this.#pumpFrom(new Promise((r) => setImmediate(r)));
      let frame: Frame | undefined;
      try {
        frame = this.#reader.next();
      } catch (err) {
        this.#protocolFatal(err as Error);
        return false;
      }
      if (!frame) break;
      const handled = this.#handle(frame);
      if (handled) return this.#pumpFrom(handled);
      if (this.#closed) return false;
      if (this.#upstream.writableNeedDrain) return this.#pumpFrom(new Promise((r) => this.#upstream.once('drain', r)));
    }
    if (this.#client.isPaused()) this.#client.resume();
    return false;
  }

  /** Waits for a message that had to wait (an approval, an awaited append, upstream backpressure), then carries on. */
  async #pumpAfter(pending: Promise<unknown>): Promise<void> {
    let handedOver = false;
    try {
      await pending;
      if (this.#closed) return;
      handedOver = this.#pumpFrom(undefined);
    } catch (err) {
      this.#pumpFailed(err as Error);
    } finally {
      if (!handedOver) {
        this.#pumping = false;
        this.#maybeFinish();
      }
    }
  }

  #pumpFailed(err: Error): void {
    this.#o.log.error({ err: err.message }, 'session failed');
    this.terminate('internal error');
  }

  /**
   * After a half-close, the session ends once every message the client sent has been decided and
   * the upstream has answered each Query/Sync that went to it. Extended-protocol messages the client
   * never synced are dropped, as a server drops them at end of input.
   */
  #maybeFinish(): void {
    if (!this.#clientEnded || this.#closed || this.#pumping) return;
    if (this.#zReceived < this.#zForwarded) return;
    this.#shutdown('client disconnected');
  }

  #handle(frame: Frame): MaybePromise<void> {
    // A statement under the gateway's savepoint: its COMMIT/RELEASE must follow it directly.
    if (this.#guard) return this.#guard.done.then(() => (this.#closed ? undefined : this.#handle(frame)));
    if (this.#discarding) {
      // After a refusal in the extended protocol, everything up to Sync is skipped, as a server does.
      if (frame.type === F.Sync) this.#endDiscard();
      else if (frame.type === F.Terminate) this.#shutdown('client terminated');
      return;
    }
    switch (frame.type) {
      case F.Parse:
      case F.Bind:
      case F.Describe:
      case F.Execute:
      case F.Close:
        this.#batch.push(frame);
        this.#batchBytes += frame.raw.length;
        if (this.#batchBytes > MAX_BATCH_BYTES || this.#batch.length > MAX_BATCH_MESSAGES) return this.#decideBatch(undefined);
        return;
      case F.Sync:
      case F.Flush:
        return this.#decideBatch(frame);
      case F.Query:
        return this.#afterBatch(() => this.#query(frame));
      case F.FunctionCall:
        return this.#afterBatch(() => this.#functionCall(frame));
      case F.CopyData:
      case F.CopyDone:
      case F.CopyFail:
        // COPY FROM STDIN payload: the COPY statement itself was decided; its data flows through.
        this.#upstream.write(frame.raw);
        return;
      case F.Terminate:
        this.#upstream.write(frame.raw);
        this.#shutdown('client terminated');
        return;
      default:
        return this.#protocolFatal(new MalformedMessageError(`invalid frontend message type ${frame.type} ('${String.fromCharCode(frame.type)}')`));
    }
  }

  /** Extended-protocol messages not yet synced are decided before a simple-protocol message runs. */
  #afterBatch(next: () => MaybePromise<void>): MaybePromise<void> {
    const pending = this.#batch.length ? this.#decideBatch(undefined) : undefined;
    return pending ? pending.then(next) : next();
  }

  #query(frame: Frame): MaybePromise<void> {
    // A large statement's bytes go to the worker first; decoding them here then takes a turn of its own.
    const early = this.#inspector.startOffLoop(frame.body.subarray(0, frame.body.length - 1));
    if (early) return nextTurn().then(() => (this.#closed ? undefined : this.#queryDecoded(frame, early)));
    return this.#queryDecoded(frame, undefined);
  }

  #queryDecoded(frame: Frame, early: Promise<InspectResult> | undefined): MaybePromise<void> {
    let sql: string;
    try {
      sql = decodeQuery(frame.body);
    } catch (err) {
      return this.#protocolFatal(err as Error);
    }
    const inspected = this.#inspector.inspect(sql, frame.body.subarray(0, frame.body.length - 1), early);
    if (inspected instanceof Promise) return inspected.then((i) => this.#queryInspected(frame, sql, i, true));
    return this.#queryInspected(frame, sql, inspected, false);
  }

  #queryInspected(frame: Frame, sql: string, inspection: Inspection | Refused, large: boolean): MaybePromise<void> {
    if (inspection instanceof Refused) return this.#refuse(inspection.error, true);
    if (!inspection.ok) {
      const parseError = parseRefusal(inspection.error);
      return this.#auditUnparsable(sql, inspection).then(() => this.#refuse(parseError, true));
    }
    const encoding = this.#inspector.encodingRefusal(sql, inspection);
    if (encoding) return this.#refuseEncodingChange(encoding, inspection.statements, true);
    this.#source = sql;
    const unit = new ResponseUnit();
    this.#decidingEndsWithSync = true;
    const verdict = this.#decideStatements(inspection.statements, unit);
    if (verdict instanceof Promise) return verdict.then((v) => this.#queryDecided(v, frame, inspection.statements, unit));
    // A large statement's audit record and its forwarding (megabytes into a socket) go in separate turns.
    if (large && verdict === undefined) return nextTurn().then(() => this.#queryDecided(verdict, frame, inspection.statements, unit));
    this.#queryDecided(verdict, frame, inspection.statements, unit);
  }

  #queryDecided(verdict: Refused | undefined, frame: Frame, _statements: StatementInspection[], unit: ResponseUnit): void {
    if (this.#closed) return;
    if (verdict instanceof Refused) return this.#refuse(verdict.error, true);
    this.#forward([frame.raw], true, unit);
  }

  async #functionCall(frame: Frame): Promise<void> {
    let oid: number;
    try {
      oid = decodeFunctionCall(frame.body).functionOid;
    } catch (err) {
      return this.#protocolFatal(err as Error);
    }
    const policy = this.#o.ctx.policy();
    const decision = policy.authorizeFunctionCall(this.#o.principal, this.#o.target.info, oid);
    const statementId = this.#nextStatementId();
    const fake: StatementInspection = {
      class: 'opaque',
      statementTypes: ['FunctionCall'],
      tables: [],
      functions: [`oid:${oid}`],
      dmlWithoutWhere: false,
      reasons: ['protocol-level FunctionCall'],
      text: `<FunctionCall oid ${oid}>`,
    };
    const audited = await this.#audit.statement(statementId, fake, decision);
    if (decision.effect !== 'allow') return this.#refuse(this.#policyError(fake, decision), true);
    if (audited instanceof Refused) return this.#refuse(audited.error, true);
    const unit = new ResponseUnit();
    unit.add(statementId);
    this.#forward([frame.raw], true, unit);
  }

  /** Decides a run of extended-protocol messages, ending with Sync, Flush, or nothing (size cap). */
  #decideBatch(terminator: Frame | undefined): MaybePromise<void> {
    const frames = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    // Large statements are inspected off the loop first; the batch is then decided in one run.
    // A Bind decided while the server has yet to confirm a change of names could be decided
    // against the wrong text: wait for its answers (a Flush makes it send them).
    if (this.#names.changePending && frames.some((f) => f.type === F.Bind)) {
      this.#upstream.write(serialize.flush());
      return this.#names.whenConfirmed().then(() => this.#decideTaken(frames, terminator));
    }
    return this.#decideTaken(frames, terminator);
  }

  #decideTaken(frames: Frame[], terminator: Frame | undefined): MaybePromise<void> {
    const large = frames.filter((f) => f.type === F.Parse && this.#inspector.isLarge(f));
    if (large.length === 0) return this.#decideFrames(frames, terminator, undefined);
    return this.#inspector.parses(large).then((inspected) => this.#decideFrames(frames, terminator, inspected));
  }

  #decideFrames(frames: Frame[], terminator: Frame | undefined, inspected: Map<Frame, { parse: ParseMessage; inspection: Inspection | Refused }> | undefined): MaybePromise<void> {
    const endsWithSync = terminator?.type === F.Sync;
    // Changes to named statements and portals take effect only if the batch is forwarded.
    const statements = new Map<string, Prepared | null>();
    const portals = new Map<string, Prepared | undefined | null>();
    const names = this.#names;
    // Protocol-level and SQL-level prepared statements share one namespace on the server: a Bind may
    // name a statement made by SQL PREPARE, and is then decided on that statement's body.
    const sqlLevel = (name: string): Prepared | undefined => {
      const body = names.sqlPrepared.get(name);
      return body ? { text: body.text, inspection: { ok: true, statements: [body], class: body.class } } : undefined;
    };
    const lookupStatement = (name: string) => (statements.has(name) ? statements.get(name) ?? undefined : names.statements.get(name) ?? sqlLevel(name));
    const lookupPortal = (name: string) => (portals.has(name) ? portals.get(name) ?? undefined : names.portals.get(name));
    const executes: StatementInspection[] = [];
    const executeParams: (string[] | undefined)[] = [];
    const effects: Unconfirmed[] = [];
    try {
      for (const frame of frames) {
        if (frame.type === F.Parse) {
          // A large Parse was decoded and inspected already: its string is not decoded twice.
          const early = inspected?.get(frame);
          const { statement, query, paramTypes } = early?.parse ?? decodeParse(frame.body);
          const judged = early?.inspection ?? this.#o.ctx.sql.inspect(query, (name) => names.sqlPrepared.get(name));
          // Declared parameter types run their code at Bind, before any Execute: judged with the Parse.
          const userTypes = userParameterTypes(paramTypes);
          const inspection = judged instanceof Refused ? judged : withUserParameterTypes(judged, userTypes);
          if (inspection instanceof Refused) return this.#refuse(inspection.error, endsWithSync);
          if (!inspection.ok) {
            const parseError = parseRefusal(inspection.error);
            return this.#auditUnparsable(query, inspection).then(() => this.#refuse(parseError, endsWithSync));
          }
          const encoding = this.#inspector.encodingRefusal(query, inspection);
          if (encoding) return this.#refuseEncodingChange(encoding, inspection.statements, endsWithSync);
          // A statement that policy would never allow is refused when prepared, not at its first execution.
          for (const s of inspection.statements) {
            const d = this.#decisions.decide(s);
            if (d.effect === 'deny') {
              const policyError = this.#policyError(s, d);
              return this.#audit.statement(this.#nextStatementId(), s, d).then(() => this.#refuse(policyError, endsWithSync));
            }
          }
          const p: Prepared = { text: query, inspection, ...(userTypes.length ? { userParameterTypes: userTypes } : {}) };
          statements.set(statement, p);
          effects.push({ kind: 'parse', apply: () => names.statements.set(statement, p) });
        } else if (frame.type === F.Bind) {
          const { portal, statement, values } = decodeBind(frame.body);
          const prepared = lookupStatement(statement);
          portals.set(portal, prepared && values.length ? { ...prepared, params: values.map((v) => (v.binary && v.value ? BINARY_PARAMETER : maskSqlParameter(v.value && v.value.toString('utf8')))) } : prepared);
        } else if (frame.type === F.Execute) {
          const { portal } = decodeExecute(frame.body);
          const prepared = lookupPortal(portal);
          if (prepared) {
            // Names as they resolve now: a SET search_path since the Parse makes the server re-analyse it.
            const again = this.#o.ctx.sql.resolveAgain?.(prepared.inspection) ?? prepared.inspection;
            const now = withUserParameterTypes(again, prepared.userParameterTypes ?? []);
            const statements = now.ok ? now.statements : prepared.inspection.statements;
            executes.push(...statements);
            for (const _ of statements) executeParams.push(prepared.params);
            this.#source = prepared.text;
          }
          // An unknown portal is a SQL-level cursor (decided at DECLARE) or an error the server reports.
        } else if (frame.type === F.Close) {
          const { kind, name } = decodeTarget(frame.body);
          (kind === 'S' ? statements : portals).set(name, null);
          effects.push({ kind: 'close', apply: kind === 'S' ? () => names.statements.delete(name) : () => undefined });
        } else if (frame.type === F.Describe) {
          decodeTarget(frame.body);
        }
      }
    } catch (err) {
      return this.#protocolFatal(err as Error);
    }
    const unit = this.#openUnit ?? new ResponseUnit();
    const decided = (verdict: Refused | undefined): MaybePromise<void> => {
      if (verdict instanceof Refused) return this.#refuse(verdict.error, endsWithSync);
      // A large statement's audit record and its forwarding (megabytes into a socket) go in separate turns.
      if (inspected?.size) return nextTurn().then(() => (this.#closed ? undefined : this.#batchForwarded(frames, terminator, effects, portals, unit)));
      this.#batchForwarded(frames, terminator, effects, portals, unit);
    };
    this.#decidingEndsWithSync = endsWithSync;
    const verdict = this.#decideStatements(executes, unit, executeParams);
    return verdict instanceof Promise ? verdict.then(decided) : decided(verdict);
  }

  /** A decided batch goes upstream; the statements and portals it named or closed change with it. */
  #batchForwarded(frames: Frame[], terminator: Frame | undefined, effects: Unconfirmed[], portals: Map<string, Prepared | undefined | null>, unit: ResponseUnit): void {
    const endsWithSync = terminator?.type === F.Sync;
    // Named statements change only when the server confirms (ParseComplete, CloseComplete): a Parse
    // it rejects (the name is taken) must not make the gateway believe the name means the new text.
    this.#names.forwarded(effects);
    for (const [name, p] of portals) {
      if (p === null) this.#names.portals.delete(name);
      else this.#names.portals.set(name, p);
    }
    if (terminator) frames.push(terminator);
    this.#forward(
      frames.map((f) => f.raw),
      endsWithSync,
      unit,
    );
    if (!endsWithSync) this.#openUnit = unit;
  }

  /**
   * Policy for statements about to run: all allowed → audit each (before forwarding) and return;
   * any denied → refuse all; approval needed → hold until a reviewer decides.
   */
  #decideStatements(list: StatementInspection[], unit: ResponseUnit, params?: (string[] | undefined)[]): MaybePromise<Refused | undefined> {
    const decided: Decided[] = list.map((s, i) => ({ s, d: this.#decisions.decide(s), id: this.#nextStatementId(), params: params?.[i] }));
    for (const x of decided) if (x.d.effect !== 'allow') return this.#decideRefusedOrHeld(decided, unit);
    return this.#admit(decided, unit);
  }

  /** A denial among them refuses them all (audited); an approval rule holds each until a reviewer decides. */
  async #decideRefusedOrHeld(decided: Decided[], unit: ResponseUnit): Promise<Refused | undefined> {
    const denied = decided.find((x) => x.d.effect === 'deny');
    if (denied) {
      await this.#audit.statement(denied.id, denied.s, denied.d, undefined, denied.params);
      return new Refused(this.#policyError(denied.s, denied.d));
    }
    for (const x of decided) {
      if (x.d.effect !== 'approve') continue;
      const outcome = await holdForApproval(this.#hold, x);
      if (outcome instanceof Refused) {
        for (const y of decided) this.#recordedBeforeHold.delete(y.id);
        return outcome;
      }
    }
    return this.#admit(decided, unit);
  }

  /** Appends each statement's event, before anything is forwarded, and gives it its place in the unit. */
  #admit(decided: Decided[], unit: ResponseUnit): MaybePromise<Refused | undefined> {
    const health = this.#o.ctx.audit.health();
    if (!health.ok) return new Refused(auditRefusal(health.reason));
    const budget = checkTaskBudget(this.#o.principal.task, decided, { txStatus: this.#txStatus, endsWithSync: this.#decidingEndsWithSync, forwardedSinceSync: this.#forwardedSinceSync });
    if (budget.refused) return this.#auditBudgetRefusal(decided, budget.refused);
    const agentRefused = this.#agentBudgetCheck(decided);
    if (agentRefused) return this.#auditBudgetRefusal(decided, agentRefused);
    // In a fleet the task's rows and bytes must have some left fleet-wide, a guarded write reserves
    // what remains of its rows, and the statements are charged to the fleet-wide counts.
    const sessions = this.#o.ctx.sessions;
    const rows = decided.length > 0 ? sessions?.fleetRowsCheck(this.#o.sessionId, this.#o.principal, budget.guardRows !== undefined) : undefined;
    if (!rows) {
      const fleet = decided.length > 0 ? sessions?.chargeFleet(this.#o.sessionId, this.#o.principal, 'statements', decided.length) : undefined;
      if (fleet) return fleet.then((spent) => (spent ? this.#auditBudgetRefusal(decided, new Refused(statementRefusal(spent))) : this.#admitCounted(decided, unit, budget.guardRows)));
      return this.#admitCounted(decided, unit, budget.guardRows);
    }
    return this.#fleetAdmit(decided, unit, rows, budget.guardRows);
  }

  async #fleetAdmit(decided: Decided[], unit: ResponseUnit, rowsCheck: Promise<{ refusal?: AirlockRefusal; reserved?: number }>, guardRows: number | undefined): Promise<Refused | undefined> {
    const sessions = this.#o.ctx.sessions!;
    const { principal, sessionId } = this.#o;
    const rows = await rowsCheck;
    if (rows.refusal) {
      // Nothing runs: the statements this process just counted are not.
      sessions.meter.uncharge(principal, 'statements', decided.length);
      return this.#auditBudgetRefusal(decided, new Refused(statementRefusal(rows.refusal)));
    }
    const spent = await sessions.chargeFleet(sessionId, principal, 'statements', decided.length);
    if (spent) {
      if (rows.reserved !== undefined) sessions.settleRowsAffected(sessionId, principal, rows.reserved, 0);
      return this.#auditBudgetRefusal(decided, new Refused(statementRefusal(spent)));
    }
    if (rows.reserved !== undefined) {
      this.#fleetReserved = rows.reserved;
      guardRows = Math.min(guardRows ?? rows.reserved, rows.reserved);
    }
    return this.#admitCounted(decided, unit, guardRows);
  }

  #admitCounted(decided: Decided[], unit: ResponseUnit, guardRows: number | undefined): MaybePromise<Refused | undefined> {
    if (guardRows !== undefined) this.#pendingGuard = guardRows;
    const appended = this.#audit.admit(decided, this.#recordedBeforeHold);
    if (appended instanceof Promise) return appended.then((refused) => refused ?? this.#admitted(decided, unit));
    return appended ?? this.#admitted(decided, unit);
  }

  #admitted(decided: Decided[], unit: ResponseUnit): undefined {
    // PREPARE, DEALLOCATE and DISCARD change what the session's names mean once the server has done them.
    for (const x of decided) unit.add(x.id, this.#names.effectOf(x.s));
    this.#stats.statements += decided.length;
    return undefined;
  }

  /** The agent's statement budget (config `tasks.agentBudgets`), once the task's let them through. */
  #agentBudgetCheck(decided: Decided[]): Refused | undefined {
    if (decided.length === 0) return undefined;
    const spent = this.#o.ctx.sessions?.charge(this.#o.principal, 'statements', decided.length, { agentOnly: true });
    if (!spent) return undefined;
    // The task's count of these statements (just taken) is given back: they do not run.
    const task = this.#o.principal.task;
    if (task) task.usage.statements -= decided.length;
    return new Refused(statementRefusal(spent));
  }

  /** A statement refused for a task's or the agent's limits is audited like any refusal. */
  async #auditBudgetRefusal(decided: Decided[], refused: Refused): Promise<Refused> {
    const x = decided[0]!;
    const policy = this.#o.ctx.policy();
    await this.#audit.statement(x.id, x.s, { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: 'refused by the task\'s or the agent\'s limits (budget_exceeded / task_expired)' }, undefined, x.params);
    return refused;
  }

  /** Sends frames upstream in one write; a Sync or Query earns a ReadyForQuery, whose unit is queued. */
  #forward(raws: Buffer[], earnsReady: boolean, unit: ResponseUnit): void {
    const allowed = this.#pendingGuard;
    this.#pendingGuard = undefined;
    if (allowed !== undefined && earnsReady) {
      const task = this.#o.principal.task!;
      this.#guard = new RowsAffectedGuard(this.#txStatus, allowed, `airlock_rows_${this.#statementSeq}`, (rows) =>
        statementRefusal(
          { code: 'budget_exceeded', message: `the statement affected ${rows} rows and task ${task.id} may affect ${allowed} more: it was rolled back`, next: { taskId: task.id, budget: 'rowsAffected' } },
        ),
      );
      raws = [this.#guard.prefix(), ...raws];
    }
    writeTogether(this.#upstream, raws, (b) => this.#upstream.write(b));
    if (earnsReady) {
      this.#names.readyDue();
      this.#zForwarded++;
      this.#forwardedSinceSync = false;
      this.#units.push(unit);
      this.#openUnit = undefined;
    } else {
      this.#forwardedSinceSync = true;
    }
  }

  /**
   * Answers a refused message. When earlier messages of the same extended-protocol run already went
   * upstream, the server must skip to Sync too: an Execute of a portal that cannot exist makes it
   * fail at exactly this point, and its error is swapped for the gateway's.
   */
  #refuse(error: Buffer, endsWithSync: boolean): void {
    this.#pendingGuard = undefined;
    if (this.#forwardedSinceSync) {
      this.#substitutions.push({ epoch: this.#zForwarded, error });
      this.#upstream.write(Buffer.concat([serialize.execute({ portal: POISON_PORTAL }), endsWithSync ? serialize.sync() : serialize.flush()]));
      if (endsWithSync) {
        this.#names.readyDue();
        this.#zForwarded++;
        this.#forwardedSinceSync = false;
        this.#units.push(this.#openUnit ?? new ResponseUnit());
        this.#openUnit = undefined;
      } else {
        this.#discarding = true;
      }
      return;
    }
    this.#enqueue(error, endsWithSync);
    if (!endsWithSync) this.#discarding = true;
  }

  #endDiscard(): void {
    this.#discarding = false;
    if (this.#forwardedSinceSync) this.#forward([serialize.sync()], true, this.#openUnit ?? new ResponseUnit());
    else this.#enqueue(undefined, true);
  }

  // ---------------------------------------------------------------- upstream → client

  /** The buffer of the upstream read being relayed, when the next read will reuse it (upstream.ts). */
  #reusedRead: ArrayBufferLike | undefined;

  /** A read into the buffer the next read reuses: it is kept only when something still refers to its bytes. */
  #fromReusedRead(chunk: Buffer): void {
    this.#reusedRead = chunk.buffer;
    try {
      this.#fromUpstream(chunk);
    } finally {
      this.#reusedRead = undefined;
      // Views of it in a write the kernel did not take whole, or held by the scanner or a handler.
      if (this.#closed || this.#client.writableLength > 0 || this.#scanner.keepsChunk) this.#o.upstream.reads.keep();
    }
  }

  #fromUpstream(chunk: Buffer): void {
    // After shutdown nobody is listening, and every statement's outcome is already recorded.
    if (this.#closed) return;
    try {
      // Messages passed or left unchanged are adjacent views of this read: they go out as one.
      this.#out.relay((slices) =>
        this.#scanner.scan(chunk, this, (b) => {
          pushJoined(slices, b);
          this.#record(b);
        }),
      );
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message }, 'upstream stream is corrupt');
      return this.terminate('the upstream sent an invalid message');
    }
    if (this.#encodingLost !== undefined) return this.terminate(`the server switched client_encoding to "${this.#encodingLost}", which Airlock cannot inspect`);
    if (this.#client.writableNeedDrain) this.#upstream.pause(); // backpressure: resumed on the client's 'drain'
    else this.#shareTheLoop(chunk.length);
    // The answer is with the kernel now (socket writes are attempted at once): recording what was
    // sent cannot delay it, and doing it here saves the event-loop turn a deferral would cost.
    if (this.#finished.length) {
      const finished = this.#finished;
      this.#finished = [];
      for (const u of finished) this.#audit.outcomes(u, this.#o.principal.task);
    }
  }

  /**
   * A busy upstream is read up to 32 times in one turn of the loop (libuv's read loop): a masked
   * result would hold the loop for that long. Past its share, a session stops reading until the next
   * turn, so other sessions' messages are handled in between.
   */
  #shareTheLoop(bytes: number): void {
    this.#relayedSinceYield += bytes;
    if (this.#yielding || this.#relayedSinceYield < (this.#mask ? MASKED_BYTES_PER_TURN : BYTES_PER_TURN)) return;
    this.#yielding = true;
    this.#upstream.pause();
    setImmediate(() => {
      this.#yielding = false;
      this.#relayedSinceYield = 0;
      if (!this.#closed && !this.#client.writableNeedDrain) this.#upstream.resume();
    });
  }

  action(type: number, length: number): ScanAction {
    const guarded = this.#guard?.action(type);
    if (guarded) return guarded;
    if (this.#mask) {
      switch (type) {
        case B.RowDescription:
          return 'peek';
        case B.DataRow: {
          const s = (this.#units[0] ?? this.#openUnit)?.current;
          if (s) s.bytes += length + 1;
          // Read where it lies in the socket read; rewritten only when a cell changes.
          return 'rewrite';
        }
        case B.CopyData:
        case B.NoticeResponse:
        case B.ErrorResponse:
        case B.NotificationResponse:
          return 'hold';
      }
    }
    switch (type) {
      case B.DataRow: {
        const s = (this.#units[0] ?? this.#openUnit)?.current;
        if (s) s.bytes += length + 1;
        return 'pass';
      }
      case B.ErrorResponse:
        return this.#substitutions.length ? 'hold' : 'peek';
      case B.ReadyForQuery:
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
      case B.ParameterStatus:
        return 'peek';
      case B.ParseComplete:
      case B.CloseComplete:
        return this.#names.changeAtHead ? 'peek' : 'pass';
      default:
        return 'pass';
    }
  }

  /** A DataRow while masking (`action` says 'rewrite' for nothing else): its replacement and any notice it caused go into `slab`. */
  rewrite(_type: number, buf: Buffer, start: number, end: number, slab: RewriteSlab): boolean {
    return this.#mask!.rewriteDataRow(buf, start, end, slab);
  }

  message(type: number, body: Buffer, raw: Buffer | undefined): Buffer | undefined {
    const unit = this.#units[0] ?? this.#openUnit;
    const mask = this.#mask;
    const guard = this.#guard;
    if (guard) {
      const guarded = this.#guardMessage(guard, type, body, raw);
      if (guarded !== NOT_GUARDED) return guarded;
    }
    if (mask) {
      switch (type) {
        case B.RowDescription:
          mask.rowDescription(body);
          return undefined;
        case B.DataRow:
          return this.#withNotices(mask, mask.dataRow(body, raw!));
        case B.CopyData:
          return mask.copyData(body, raw!);
        case B.NoticeResponse:
          return mask.fields(type, body, raw!);
        case B.NotificationResponse:
          return mask.notification(body, raw!);
        case B.CommandComplete: {
          const s = unit?.current;
          if (s) s.masking = mask.takeSummary();
          break;
        }
      }
    }
    switch (type) {
      case B.ParseComplete:
      case B.CloseComplete:
        this.#names.confirmed(type === B.ParseComplete ? 'parse' : 'close');
        return raw;
      case B.ReadyForQuery:
        this.#ready(String.fromCharCode(body[0]!) as TransactionStatus);
        return undefined;
      case B.CommandComplete: {
        const { tag, rows } = decodeCommandTag(body);
        unit?.complete(rows);
        countCommandTag(this.#o.principal.task, tag, rows);
        const task = this.#o.principal.task;
        if (task && rows !== undefined && /^(SELECT|FETCH)\b/.test(tag)) this.#o.ctx.sessions?.chargeFleetAfter(this.#o.sessionId, task, 'rowsReturned', rows);
        return undefined;
      }
      case B.ParameterStatus: {
        // The backstop for a change of encoding no statement showed (a function that calls
        // set_config): the session can no longer be read as the server reads it.
        const { name, value } = decodeParameterStatus(body);
        if (name === 'client_encoding' && clientEncodingRefusal(value)) this.#encodingLost = value;
        return raw;
      }
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        unit?.complete();
        return undefined;
      case B.ErrorResponse: {
        const fields = decodeFields(body);
        const sub = this.#substitutions[0];
        if (raw && sub && sub.epoch === this.#zReceived && (fields.get('M') ?? '').includes(POISON_PORTAL)) {
          this.#substitutions.shift();
          return sub.error;
        }
        unit?.fail(fields.get('C') ?? 'XX000', fields.get('M') ?? '');
        return raw && mask ? mask.fields(type, body, raw) : raw;
      }
      default:
        return raw;
    }
  }

  /** A ReadyForQuery the client gets: the unit it ends is answered. */
  #ready(status: TransactionStatus): void {
    this.#names.ready();
    this.#txStatus = status;
    this.#zReceived++;
    const done = this.#units.shift();
    // Outcomes are audited once this chunk is written to the client: off the response's critical path.
    if (done) this.#finished.push(done);
    if (this.#clientEnded) queueMicrotask(() => this.#maybeFinish()); // after this message is written
    // A swap that never happened (the server was already skipping to Sync) is void now.
    while (this.#substitutions[0] && this.#substitutions[0].epoch < this.#zReceived) this.#substitutions.shift();
  }

  // ---------------------------------------------------------------- a write under a task's rows-affected guard

  /** The upstream's answers while a statement runs under the gateway's savepoint (rows-affected-guard.ts). */
  #guardMessage(guard: RowsAffectedGuard, type: number, body: Buffer, raw: Buffer | undefined): Buffer | undefined | typeof NOT_GUARDED {
    switch (guard.phase) {
      case 'pre':
        guard.pre(type);
        return undefined;
      case 'post':
        guard.post(type, raw);
        return (guard.phase as string) === 'done' ? this.#guardFinished(guard, String.fromCharCode(body[0]!) as TransactionStatus) : undefined;
      case 'main':
        if (type === B.CommandComplete) {
          const unit = this.#units[0] ?? this.#openUnit;
          const s = unit?.current;
          if (s && this.#mask) s.masking = this.#mask.takeSummary();
          unit?.complete(decodeCommandTag(body).rows);
          guard.complete(body, raw!);
          return undefined;
        }
        if (type === B.ReadyForQuery) {
          const status = String.fromCharCode(body[0]!) as TransactionStatus;
          const suffix = guard.afterMain(status);
          if (suffix) {
            this.#upstream.write(suffix);
            return undefined;
          }
          return this.#guardFinished(guard, status);
        }
        if (type === B.ErrorResponse) guard.mainError();
        return NOT_GUARDED;
      default:
        return NOT_GUARDED;
    }
  }

  /** The guarded statement is settled upstream: the client gets its tag (or the refusal) and ReadyForQuery. */
  #guardFinished(guard: RowsAffectedGuard, status: TransactionStatus): Buffer {
    this.#guard = undefined;
    const r = guard.finish(status);
    const task = this.#o.principal.task;
    const unit = this.#units[0];
    if (r.over) {
      const s = unit?.statements[unit.statements.length - 1];
      if (s) {
        s.status = 'error';
        s.error = { code: SQLSTATE.programLimitExceeded, message: `budget_exceeded: ${r.rows} rows affected, rolled back` };
      }
      if (task) task.usage.refusals++;
    } else if (task) task.usage.rowsAffected += r.rows;
    if (this.#fleetReserved !== undefined) {
      this.#o.ctx.sessions?.settleRowsAffected(this.#o.sessionId, this.#o.principal, this.#fleetReserved, r.over ? 0 : r.rows);
      this.#fleetReserved = undefined;
    }
    this.#ready(status);
    return Buffer.concat([...r.out, readyForQuery(status)]);
  }

  // ---------------------------------------------------------------- output to the client

  #withNotices(mask: ResultMasker, buf: Buffer): Buffer {
    if (mask.pendingNotices.length === 0) return buf;
    const out = Buffer.concat([buf, ...mask.pendingNotices]);
    mask.pendingNotices.length = 0;
    return out;
  }

  /** Attributes bytes relayed to the client to the statement being answered, for the audit record. */
  #record(b: Buffer): void {
    const newCapture = this.#o.ctx.responseCapture;
    if (!newCapture) return;
    const s = (this.#units[0] ?? this.#openUnit)?.current;
    if (!s) return;
    const capture = (s.capture ??= newCapture());
    // The gateway's own messages and reads into buffers of their own are never written to again:
    // kept without a copy. A read whose buffer is reused is copied (only while under the cap).
    if (b.buffer === this.#reusedRead) capture.add(b);
    else capture.addOwned(b);
  }

  get wantsBoundary(): boolean {
    return this.#out.due(this.#zReceived);
  }

  boundary(): void {
    this.#flushOutput();
  }

  /** Queues the gateway's own output to follow every answer already due from the upstream. */
  #enqueue(buf: Buffer | undefined, z: boolean): void {
    this.#out.enqueue(this.#zForwarded, buf, z);
    if (this.#scanner.atBoundary) this.#flushOutput();
  }

  #flushOutput(): void {
    this.#out.flush(this.#zReceived, this.#txStatus);
  }

  // ---------------------------------------------------------------- errors, audit, shutdown

  #policyError(s: StatementInspection, d: Decision, why?: string): Buffer {
    const task = this.#o.principal.task;
    if (task) task.usage.refusals++;
    return policyRefusal(s, d, task?.id, why);
  }

  #protocolFatal(err: Error): void {
    const tooLarge = err instanceof MessageTooLargeError;
    this.#o.log.info({ err: err.message }, 'protocol error from client');
    void this.#audit.append({
      type: 'auth.refused',
      sessionId: this.#o.sessionId,
      code: tooLarge ? 'message_too_large' : 'protocol',
      reason: err.message,
      target: this.#o.target.info.name,
      client: { address: this.#client.remoteAddress ?? 'unknown', port: this.#client.remotePort ?? 0 },
    });
    // A server cannot resynchronise after a framing error either: the session ends with a FATAL.
    this.#out.write(
      errorResponse({ severity: 'FATAL', code: tooLarge ? SQLSTATE.programLimitExceeded : SQLSTATE.protocolViolation, message: tooLarge ? err.message : `invalid frontend message: ${err.message}` }),
    );
    this.#shutdown(`protocol error: ${err.message}`, tooLarge ? err.total - this.#reader.bufferedBytes : 0);
  }

  #nextStatementId(): string {
    return `${this.#o.sessionId}/${++this.#statementSeq}`;
  }

  /** A statement that would change the client encoding: refused whatever policy says, audited, session kept. */
  async #refuseEncodingChange(refusal: EncodingRefusal, statements: readonly StatementInspection[], endsWithSync: boolean): Promise<void> {
    const policy = this.#o.ctx.policy();
    const s = statements.find((x) => x.statementTypes.includes('VariableSetStmt') || x.functions.some((f) => f.endsWith('set_config'))) ?? statements[0]!;
    await this.#audit.statement(this.#nextStatementId(), s, { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: refusal.message });
    this.#refuse(errorResponse({ severity: 'ERROR', code: refusal.code, message: refusal.message, hint: refusal.hint }), endsWithSync);
  }

  #auditUnparsable(sql: string, failed: Extract<Inspection, { ok: false }>): Promise<void> {
    return this.#audit.unparsable(this.#nextStatementId(), sql, failed.error, this.#o.statementLimits.offloadAboveBytes, this.#inspector.uninspected(failed));
  }

  /** Ends the session; `unreceived` bytes of a refused message are still to come from the client (closing.ts). */
  #shutdown(reason: string, unreceived = 0): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#guard?.abandon();
    if (this.#holding) void this.#holding.cancel('client disconnected');
    if (!this.#upstream.destroyed) this.#upstream.end(serialize.end());
    endAndDrain(this.#client, undefined, unreceived);
    setTimeout(() => this.#upstream.destroy(), 1000).unref();
    // Statements still waiting for their ReadyForQuery get their outcome now, before the session's
    // end: the answer may have been cut short, or the client left before it came.
    const unanswered = [...this.#finished, ...this.#units, ...(this.#openUnit ? [this.#openUnit] : [])];
    this.#finished = [];
    this.#units = [];
    this.#openUnit = undefined;
    for (const u of unanswered) {
      u.abandon();
      this.#audit.outcomes(u, this.#o.principal.task);
    }
    void this.#audit.append({
      type: 'session.end',
      sessionId: this.#o.sessionId,
      reason,
      statements: this.#stats.statements,
      bytesIn: this.#stats.bytesIn,
      bytesOut: this.#out.bytesOut,
      durationMs: Date.now() - this.#stats.startedAt,
    });
    this.#o.log.info({ reason, statements: this.#stats.statements }, 'session ended');
    for (const fn of this.#closeHandlers) fn();
  }
}
