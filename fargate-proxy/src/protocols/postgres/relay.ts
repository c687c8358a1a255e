// The steady state of a session: every client message is framed, statements are inspected and
// decided before they are forwarded, and the upstream's answers are relayed by header with the
// gateway's own answers (refusals, notices) slipped in at message boundaries, in protocol order.
import type net from 'node:net';
import { serialize } from 'pg-protocol';
import type { Logger } from 'pino';
import type { Decision, Inspection, Principal, StatementInspection } from '../../../../core/model.js';
import type { AuditEventInput } from '../../../../core/audit/events.js';
import type { PendingApproval } from '../../../../core/approval/types.js';
import { agentReasonFrom } from '../../../../core/approval/agent-reason.js';
import { statementDecisionKey } from '../../../../core/policy/request.js';
import type { Masker } from '../../../../core/mask/index.js';
import { pushJoined } from '../../../../core/bytes.js';
import type { GatewayContext, PostgresTarget } from '../../context.js';
import { B, decodeCommandTag, decodeFields, decodeParameterStatus, errorResponse, noticeResponse, readyForQuery, type TransactionStatus } from './backend.js';
import { BackendScanner, type ScanAction, type ScanHandler } from './backend-scanner.js';
import { endAndDrain } from './closing.js';
import { inspectOffLoop, type StatementLimits } from './off-loop-inspection.js';
import { PoolBusyError, PoolDeadlineError } from '../../workers/worker-pool.js';
import { maskSqlParameter, rememberMaskedSqlText } from '../../../../core/audit/sql-literals.js';
import { createHash } from 'node:crypto';
import { clientEncodingRefusal, encodingChangeRefusal, type EncodingRefusal } from './client-encoding.js';
import { SQLSTATE } from './errors.js';
import { FrameReader, MalformedMessageError, MessageTooLargeError, type Frame } from './framer.js';
import { F, decodeBind, decodeExecute, decodeFunctionCall, decodeParse, decodeQuery, decodeTarget } from './frontend.js';
import { ResponseUnit, statementShape } from './statement-units.js';
import { ResultMasker, type DetectorHitListener } from './result-masking.js';
import type { UpstreamConnection } from './upstream.js';
// --- issue 32: tasks, budgets, the refusal contract ---
import { refusalDetail, refusalHint, type Refusal as AirlockRefusal } from '../../../../core/refusal.js';
import { remaining, wouldExceed } from '../../../../core/task/budget.js';
import { scopeToAsk } from '../../../../core/task/scope.js';
import { taskUsable } from '../../../../core/task/service.js';
import { sessionEndRefusal, statementRefusal } from './refusal.js';
import { RowsAffectedGuard, countableDml, uncountableWrite } from './rows-affected-guard.js';
// --- end issue 32 ---

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

/** A statement as prepared on the upstream (extended protocol), with what inspection made of it. */
interface Prepared {
  text: string;
  inspection: Extract<Inspection, { ok: true }>;
  /** For a portal: the values bound to it, masked for the audit. */
  params?: string[];
}

/** A change of named statements that takes effect when the server confirms it. */
type Unconfirmed = { kind: 'parse' | 'close' | 'ready'; apply: () => void };
const READY: Unconfirmed = { kind: 'ready', apply: () => undefined };

/** The gateway's answer to a refused message: the ErrorResponse to send and what to audit. */
class Refused {
  constructor(readonly error: Buffer) {}
}

/**
 * A result that is a promise only when something had to wait (an approval, an awaited audit
 * append). The common path (allowed, audited with `appendNow`) stays synchronous, so a statement
 * is forwarded from the socket's own callback, with no promise made and no microtask to run.
 */
type MaybePromise<T> = T | Promise<T>;

/** A statement with its policy decision and the id its audit events carry. */
interface Decided {
  s: StatementInspection;
  d: Decision;
  id: string;
  /** Bound parameter values, masked (extended protocol). */
  params?: string[];
}

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
/** `#guardMessage` leaves the message to the ordinary path. */
const NOT_GUARDED = Symbol('not guarded');
const MAX_REMEMBERED_DECISIONS = 256;
/** Buffers going to one socket together are joined below this size: one plain write beats a writev. */
const JOIN_BELOW_BYTES = 16 * 1024;

/** Writes buffers back to back: joined into one when small, corked into one writev otherwise. */
function writeTogether(socket: net.Socket, bufs: Buffer[], write: (b: Buffer) => void): void {
  if (bufs.length <= 1) {
    if (bufs[0]) write(bufs[0]);
    return;
  }
  let total = 0;
  for (const b of bufs) total += b.length;
  if (total < JOIN_BELOW_BYTES) return write(Buffer.concat(bufs, total));
  socket.cork();
  for (const b of bufs) write(b);
  socket.uncork();
}

type AuditedDecision = Extract<AuditEventInput, { type: 'statement' }>['decision'];
const auditedDecisions = new WeakMap<Decision, AuditedDecision>();

/**
 * What a statement's record says of its decision, one frozen object per decision: sessions reuse
 * their decisions, and the audit renders a deep-frozen member once (chain.ts).
 */
function auditedDecision(d: Decision): AuditedDecision {
  let audited = auditedDecisions.get(d);
  if (!audited) {
    // Keys in sorted order: the audit renders it as it stands.
    audited = Object.freeze({ effect: d.effect, policyIds: Object.freeze([...d.policyIds]) as string[], policyVersion: d.policyVersion, reason: d.reason });
    auditedDecisions.set(d, audited);
  }
  return audited;
}

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
  #output: { zTarget: number; buf: Buffer | undefined; z: boolean }[] = [];
  #substitutions: { epoch: number; error: Buffer }[] = [];
  #slices: Buffer[] | undefined; // set while a chunk from upstream is being scanned
  #finished: ResponseUnit[] = []; // answered units whose outcomes are audited once the chunk is written

  #batch: Frame[] = [];
  /** Changes to named statements forwarded and not yet confirmed, in order, with a READY per ReadyForQuery due from the upstream. */
  #unconfirmed: Unconfirmed[] = [];
  #confirmedWaiters: (() => void)[] = [];
  #batchBytes = 0;
  #statements = new Map<string, Prepared>();
  #portals = new Map<string, Prepared | undefined>();
  #sqlPrepared = new Map<string, StatementInspection>();
  /** Decisions by statement facts for the policy version in `#decisionsVersion`: principal and target are fixed per session. */
  #decisions = new Map<string, Decision>();
  #decisionsVersion = '';
  /** The facts (by identity) and decision of the last statement decided, for the policy version in `#decisionsVersion`. */
  #lastDecided:
    | (Pick<StatementInspection, 'tables' | 'functions' | 'statementTypes' | 'class' | 'dmlWithoutWhere' | 'maskedColumnsInPredicates' | 'maskedColumnsTransformed'> & { decision: Decision })
    | undefined;

  #units: ResponseUnit[] = [];
  #openUnit: ResponseUnit | undefined;
  #statementSeq = 0;
  /** The SQL the client sent for what is being decided: where the agent's `airlock-reason` comment is. */
  #source = '';

  /** Held statements whose event was appended before the hold: not appended again once approved. */
  #recordedBeforeHold = new Set<string>();
  /** Texts of statements inspected off the loop, already masked there for the audit. */
  #maskedTexts = new WeakMap<StatementInspection, string>();
  #pumping = false;
  #closed = false;
  /** Set when the upstream reports a client encoding the gateway cannot read: the session ends. */
  #encodingLost: string | undefined;
  /** The client half-closed: answer what it sent, then close (as a server does on EOF). */
  #clientEnded = false;
  #holding: PendingApproval | undefined;
  #closeHandlers: (() => void)[] = [];
  #stats = { statements: 0, bytesIn: 0, bytesOut: 0, startedAt: Date.now() };
  // --- issue 32 ---
  /** The DML running under the gateway's savepoint; nothing else is forwarded meanwhile. */
  #guard: RowsAffectedGuard | undefined;
  /** Rows the statement just admitted may affect: forwarding it starts a guard. */
  #pendingGuard: number | undefined;
  /** Whether the run being decided ends with Sync (a Query always does). */
  #decidingEndsWithSync = true;
  // --- end issue 32 ---
  /** Undefined when masking is off or policy lets this principal see the target unmasked. */
  readonly #mask: ResultMasker | undefined;

  constructor(o: RelayOptions) {
    this.#o = o;
    this.#client = o.client;
    this.#upstream = o.upstream.socket;
    this.#reader = o.pending;
    this.#txStatus = o.upstream.status;
    this.#mask = o.masker && new ResultMasker(o.masker, o.onDetectorHit, o.ruleColumnAt);
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
    this.#upstream.on('data', (chunk: Buffer) => this.#fromUpstream(chunk));
    this.#upstream.on('end', () => this.#shutdown('upstream closed the connection'));
    this.#upstream.on('close', () => this.#shutdown('upstream closed the connection'));
    this.#upstream.on('error', (err) => this.#shutdown(`upstream error: ${err.message}`));
    for (const early of this.#o.upstream.leftover) this.#fromUpstream(early);
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
    this.#writeClient(sessionEndRefusal(r));
    this.#shutdown(`${r.code}: ${r.message}`);
  }

  terminate(reason: string): void {
    if (this.#closed) return;
    this.#writeClient(errorResponse({ severity: 'FATAL', code: '57P01', message: `Airlock is closing this session: ${reason}` }));
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
    let sql: string;
    try {
      sql = decodeQuery(frame.body);
    } catch (err) {
      return this.#protocolFatal(err as Error);
    }
    const inspected = this.#inspect(sql, frame.body.length - 1);
    if (inspected instanceof Promise) return inspected.then((i) => this.#queryInspected(frame, sql, i));
    return this.#queryInspected(frame, sql, inspected);
  }

  #queryInspected(frame: Frame, sql: string, inspection: Inspection | Refused): MaybePromise<void> {
    if (inspection instanceof Refused) return this.#refuse(inspection.error, true);
    if (!inspection.ok) {
      const parseError = this.#parseError(inspection.error);
      return this.#auditUnparsable(sql, inspection.error).then(() => this.#refuse(parseError, true));
    }
    const encoding = encodingChangeRefusal(sql, inspection.statements);
    if (encoding) return this.#refuseEncodingChange(encoding, inspection.statements, true);
    this.#source = sql;
    const unit = new ResponseUnit();
    this.#decidingEndsWithSync = true;
    const verdict = this.#decideStatements(inspection.statements, unit);
    if (verdict instanceof Promise) return verdict.then((v) => this.#queryDecided(v, frame, inspection.statements, unit));
    this.#queryDecided(verdict, frame, inspection.statements, unit);
  }

  /**
   * Inspects a statement string: on the event loop when small, in the worker pool when large (its
   * texts come back masked for the audit too), refused when over the limit or past the deadline.
   */
  #inspect(sql: string, bytes: number): MaybePromise<Inspection | Refused> {
    const limits = this.#o.statementLimits;
    if (bytes > limits.maxStatementBytes) {
      return this.#refuseUninspected(sql, SQLSTATE.programLimitExceeded, `statement of ${bytes} bytes exceeds the gateway's limit of ${limits.maxStatementBytes} bytes`);
    }
    if (bytes <= limits.offloadAboveBytes) return this.#o.ctx.sql.inspect(sql, (name) => this.#sqlPrepared.get(name));
    return inspectOffLoop({ sql, prepared: [...this.#sqlPrepared] }, limits.inspectDeadlineMs).then(
      ({ inspection: raw, maskedTexts }) => {
        // The worker only parsed: this session's names (search_path, catalog) are resolved here, as
        // `ctx.sql.inspect` does for small statements.
        const inspection = this.#o.ctx.sql.resolve?.(raw) ?? raw;
        if (inspection.ok) {
          inspection.statements.forEach((s, i) => {
            const masked = maskedTexts[i];
            if (masked === undefined) return;
            rememberMaskedSqlText(masked);
            this.#maskedTexts.set(s, masked);
          });
        }
        return inspection;
      },
      (err: Error) => {
        if (err instanceof PoolDeadlineError) return this.#refuseUninspected(sql, SQLSTATE.statementTooComplex, `Airlock could not inspect this ${bytes}-byte statement within ${limits.inspectDeadlineMs} ms`);
        if (err instanceof PoolBusyError) return this.#refuseUninspected(sql, SQLSTATE.insufficientResources, `Airlock is busy inspecting other large statements: ${err.message}`);
        return this.#refuseUninspected(sql, SQLSTATE.systemError, `Airlock could not inspect this statement: ${err.message}`);
      },
    );
  }

  /** What the audit records of a statement too large to record as text: its size and digest. */
  #describeUninspected(sql: string): string {
    const text = `<statement of ${Buffer.byteLength(sql)} bytes, sha256 ${createHash('sha256').update(sql).digest('hex')}>`;
    rememberMaskedSqlText(text);
    return text;
  }

  /** Audits and refuses a statement that was not inspected; its text is recorded by size and digest only. */
  async #refuseUninspected(sql: string, code: string, message: string): Promise<Refused> {
    const s: StatementInspection = { class: 'opaque', statementTypes: [], tables: [], functions: [], dmlWithoutWhere: false, reasons: [message], text: this.#describeUninspected(sql) };
    const policy = this.#o.ctx.policy();
    await this.#auditStatement(this.#nextStatementId(), s, { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: message });
    return new Refused(errorResponse({ severity: 'ERROR', code, message }));
  }

  #queryDecided(verdict: Refused | undefined, frame: Frame, _statements: StatementInspection[], unit: ResponseUnit): void {
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
    const audited = await this.#auditStatement(statementId, fake, decision);
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
    if (this.#unconfirmed.some((e) => e !== READY) && frames.some((f) => f.type === F.Bind)) {
      this.#upstream.write(serialize.flush());
      return new Promise<void>((resolve) => this.#confirmedWaiters.push(resolve)).then(() => this.#decideTaken(frames, terminator));
    }
    return this.#decideTaken(frames, terminator);
  }

  /** Resolves the waiters once no change of names is left unconfirmed. */
  #maybeConfirmed(): void {
    if (this.#confirmedWaiters.length === 0 || this.#unconfirmed.some((e) => e !== READY)) return;
    for (const w of this.#confirmedWaiters.splice(0)) w();
  }

  #decideTaken(frames: Frame[], terminator: Frame | undefined): MaybePromise<void> {
    const { offloadAboveBytes, maxStatementBytes } = this.#o.statementLimits;
    const large = frames.filter((f) => f.type === F.Parse && f.body.length > Math.min(offloadAboveBytes, maxStatementBytes));
    if (large.length === 0) return this.#decideFrames(frames, terminator, undefined);
    return this.#inspectParses(large).then((inspected) => this.#decideFrames(frames, terminator, inspected));
  }

  /** Inspections of large Parse messages, by frame; malformed ones are left to the batch's run to report. */
  async #inspectParses(parses: Frame[]): Promise<Map<Frame, Inspection | Refused>> {
    const out = new Map<Frame, Inspection | Refused>();
    for (const frame of parses) {
      let query: string;
      try {
        query = decodeParse(frame.body).query;
      } catch {
        continue;
      }
      out.set(frame, await this.#inspect(query, Buffer.byteLength(query)));
    }
    return out;
  }

  #decideFrames(frames: Frame[], terminator: Frame | undefined, inspected: Map<Frame, Inspection | Refused> | undefined): MaybePromise<void> {
    const endsWithSync = terminator?.type === F.Sync;
    // Changes to named statements and portals take effect only if the batch is forwarded.
    const statements = new Map<string, Prepared | null>();
    const portals = new Map<string, Prepared | undefined | null>();
    const lookupStatement = (name: string) => (statements.has(name) ? statements.get(name) ?? undefined : this.#statements.get(name));
    const lookupPortal = (name: string) => (portals.has(name) ? portals.get(name) ?? undefined : this.#portals.get(name));
    const executes: StatementInspection[] = [];
    const executeParams: (string[] | undefined)[] = [];
    const effects: Unconfirmed[] = [];
    try {
      for (const frame of frames) {
        if (frame.type === F.Parse) {
          const { statement, query } = decodeParse(frame.body);
          const inspection = inspected?.get(frame) ?? this.#o.ctx.sql.inspect(query, (name) => this.#sqlPrepared.get(name));
          if (inspection instanceof Refused) return this.#refuse(inspection.error, endsWithSync);
          if (!inspection.ok) {
            const parseError = this.#parseError(inspection.error);
            return this.#auditUnparsable(query, inspection.error).then(() => this.#refuse(parseError, endsWithSync));
          }
          const encoding = encodingChangeRefusal(query, inspection.statements);
          if (encoding) return this.#refuseEncodingChange(encoding, inspection.statements, endsWithSync);
          // A statement that policy would never allow is refused when prepared, not at its first execution.
          for (const s of inspection.statements) {
            const d = this.#decide(s);
            if (d.effect === 'deny') {
              const policyError = this.#policyError(s, d);
              return this.#auditStatement(this.#nextStatementId(), s, d).then(() => this.#refuse(policyError, endsWithSync));
            }
          }
          const p: Prepared = { text: query, inspection };
          statements.set(statement, p);
          effects.push({ kind: 'parse', apply: () => this.#statements.set(statement, p) });
        } else if (frame.type === F.Bind) {
          const { portal, statement, values } = decodeBind(frame.body);
          const prepared = lookupStatement(statement);
          portals.set(portal, prepared && values.length ? { ...prepared, params: values.map((v) => (v.binary && v.value ? BINARY_PARAMETER : maskSqlParameter(v.value && v.value.toString('utf8')))) } : prepared);
        } else if (frame.type === F.Execute) {
          const { portal } = decodeExecute(frame.body);
          const prepared = lookupPortal(portal);
          if (prepared) {
            // Names as they resolve now: a SET search_path since the Parse makes the server re-analyse it.
            const now = this.#o.ctx.sql.resolveAgain?.(prepared.inspection) ?? prepared.inspection;
            const statements = now.ok ? now.statements : prepared.inspection.statements;
            executes.push(...statements);
            for (const _ of statements) executeParams.push(prepared.params);
            this.#source = prepared.text;
          }
          // An unknown portal is a SQL-level cursor (decided at DECLARE) or an error the server reports.
        } else if (frame.type === F.Close) {
          const { kind, name } = decodeTarget(frame.body);
          (kind === 'S' ? statements : portals).set(name, null);
          effects.push({ kind: 'close', apply: kind === 'S' ? () => this.#statements.delete(name) : () => undefined });
        } else if (frame.type === F.Describe) {
          decodeTarget(frame.body);
        }
      }
    } catch (err) {
      return this.#protocolFatal(err as Error);
    }
    const unit = this.#openUnit ?? new ResponseUnit();
    const decided = (verdict: Refused | undefined): void => {
      if (verdict instanceof Refused) return this.#refuse(verdict.error, endsWithSync);
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
    for (const e of effects) this.#unconfirmed.push(e);
    for (const [name, p] of portals) {
      if (p === null) this.#portals.delete(name);
      else this.#portals.set(name, p);
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
    const decided: Decided[] = list.map((s, i) => ({ s, d: this.#decide(s), id: this.#nextStatementId(), params: params?.[i] }));
    for (const x of decided) if (x.d.effect !== 'allow') return this.#decideRefusedOrHeld(decided, unit);
    return this.#admit(decided, unit);
  }

  /** A denial among them refuses them all (audited); an approval rule holds each until a reviewer decides. */
  async #decideRefusedOrHeld(decided: Decided[], unit: ResponseUnit): Promise<Refused | undefined> {
    const denied = decided.find((x) => x.d.effect === 'deny');
    if (denied) {
      await this.#auditStatement(denied.id, denied.s, denied.d, undefined, denied.params);
      return new Refused(this.#policyError(denied.s, denied.d));
    }
    for (const x of decided) {
      if (x.d.effect !== 'approve') continue;
      const outcome = await this.#holdForApproval(x);
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
    if (!health.ok) return new Refused(this.#auditError(health.reason));
    const overBudget = this.#taskBudgetCheck(decided) ?? this.#agentBudgetCheck(decided);
    if (overBudget) return this.#auditBudgetRefusal(decided, overBudget);
    const appendNow = this.#o.ctx.audit.appendNow;
    if (!appendNow) return this.#admitAfterAppend(decided, unit);
    try {
      for (const x of decided) if (!this.#recordedBeforeHold.delete(x.id)) appendNow(this.#statementEvent(x.id, x.s, x.d, undefined, x.params));
    } catch (err) {
      return new Refused(this.#auditError((err as Error).message));
    }
    return this.#admitted(decided, unit);
  }

  async #admitAfterAppend(decided: Decided[], unit: ResponseUnit): Promise<Refused | undefined> {
    try {
      const unrecorded = decided.filter((x) => !this.#recordedBeforeHold.delete(x.id));
      await Promise.all(unrecorded.map((x) => this.#o.ctx.audit.append(this.#statementEvent(x.id, x.s, x.d, undefined, x.params))));
    } catch (err) {
      return new Refused(this.#auditError((err as Error).message));
    }
    return this.#admitted(decided, unit);
  }

  #admitted(decided: Decided[], unit: ResponseUnit): undefined {
    // PREPARE, DEALLOCATE and DISCARD change what the session's names mean once the server has done them.
    for (const x of decided) unit.add(x.id, this.#sqlPreparedEffect(x.s));
    this.#stats.statements += decided.length;
    return undefined;
  }

  #decide(s: StatementInspection): Decision {
    const policy = this.#o.ctx.policy();
    // A task's remaining budget is part of what policy sees: no decision is reused.
    if (this.#o.principal.task) return Object.freeze(policy.authorizeStatement(this.#o.principal, this.#o.target.info, s));
    if (policy.version !== this.#decisionsVersion) {
      this.#decisions.clear();
      this.#lastDecided = undefined;
      this.#decisionsVersion = policy.version;
    }
    // A session often repeats one statement shape: its inspections then share their frozen fact
    // arrays, and the same facts get the same decision without building the key.
    const last = this.#lastDecided;
    if (
      last &&
      last.tables === s.tables &&
      last.functions === s.functions &&
      last.statementTypes === s.statementTypes &&
      last.class === s.class &&
      last.dmlWithoutWhere === s.dmlWithoutWhere &&
      last.maskedColumnsInPredicates === s.maskedColumnsInPredicates &&
      last.maskedColumnsTransformed === s.maskedColumnsTransformed
    )
      return last.decision;
    const key = statementDecisionKey(s);
    let decision = this.#decisions.get(key);
    if (!decision) {
      decision = Object.freeze(policy.authorizeStatement(this.#o.principal, this.#o.target.info, s));
      if (this.#decisions.size >= MAX_REMEMBERED_DECISIONS) this.#decisions.clear();
      this.#decisions.set(key, decision);
    }
    // Only frozen arrays can stand for their contents by identity.
    const frozen = Object.isFrozen(s.tables) && Object.isFrozen(s.functions) && Object.isFrozen(s.statementTypes);
    this.#lastDecided = frozen
      ? {
          tables: s.tables, functions: s.functions, statementTypes: s.statementTypes, class: s.class, dmlWithoutWhere: s.dmlWithoutWhere,
          maskedColumnsInPredicates: s.maskedColumnsInPredicates, maskedColumnsTransformed: s.maskedColumnsTransformed, decision,
        }
      : undefined;
    return decision;
  }

  async #holdForApproval({ id: statementId, s, d, params }: Decided): Promise<string | Refused> {
    const approvals = this.#o.ctx.approvals;
    if (!approvals) {
      await this.#auditStatement(statementId, s, d, undefined, params);
      return new Refused(this.#policyError(s, d, 'approval is required and no approval service is configured'));
    }
    // What was asked is in the trail before the hold: a crash while it waits loses nothing. The
    // outcome is the approval's own events (approved, denied, expired, cancelled).
    const recorded = await this.#auditStatement(statementId, s, d, undefined, params);
    if (recorded) return recorded;
    this.#recordedBeforeHold.add(statementId);
    let pending: PendingApproval;
    try {
      pending = await approvals.request(
        {
          requester: this.#o.principal,
          target: this.#o.target.info,
          sessionId: this.#o.sessionId,
          statementId,
          // Reviewers see the statement with sensitive values (cards, e-mails, keys) masked.
          statementText: this.#o.masker?.maskText(s.text) ?? s.text,
          statementClass: s.class,
          policyIds: d.policyIds,
          shape: statementShape(s.text),
          agentReason: agentReasonFrom(s.text) ?? agentReasonFrom(this.#source),
        },
        (e) => void this.#audit({ type: 'approval', sessionId: this.#o.sessionId, statementId, approvalId: e.approvalId, state: e.state as 'pending', reviewer: e.reviewer, reason: e.reason }),
      );
    } catch (err) {
      this.#recordedBeforeHold.delete(statementId);
      const why = `approval is required but the approval service is unavailable (${(err as Error).message})`;
      await this.#auditStatement(statementId, s, { ...d, effect: 'deny', reason: why }, undefined, params);
      return new Refused(this.#policyError(s, d, why));
    }
    this.#enqueue(
      noticeResponse({
        severity: 'NOTICE',
        code: '01000',
        message: `Airlock: this ${s.class} statement needs approval (${d.policyIds.join(', ') || 'policy'}); request ${pending.id} is waiting for a reviewer`,
        detail: `Review at ${pending.reviewUrl}`,
        hint: 'The statement runs as soon as it is approved. Cancel (Ctrl-C) withdraws the request.',
      }),
      false,
    );
    this.#holding = pending;
    const outcome = await pending.outcome.finally(() => (this.#holding = undefined));
    if (outcome.state === 'approved') return pending.id;
    this.#recordedBeforeHold.delete(statementId);
    if (outcome.state === 'cancelled') {
      return new Refused(errorResponse({ severity: 'ERROR', code: SQLSTATE.queryCanceled, message: 'canceling statement due to user request', detail: `approval request ${pending.id} was withdrawn` }));
    }
    const by = outcome.reviewer ? ` by ${outcome.reviewer}` : '';
    return new Refused(
      errorResponse({
        severity: 'ERROR',
        code: SQLSTATE.insufficientPrivilege,
        message: `Airlock refused this ${s.class} statement: approval ${outcome.state}${by}: ${outcome.reason}`,
        detail: `airlock: code=approval_denied approval=${pending.id}; approval request ${pending.id}; policy ${d.policyIds.join(', ') || '(default)'}`,
      }),
    );
  }

  /** What a statement does to the session's prepared names when it succeeds; undefined for most. */
  #sqlPreparedEffect(s: StatementInspection): (() => void) | undefined {
    const ext = s as StatementInspection & { prepare?: unknown; deallocate?: string };
    if (!ext.prepare && ext.deallocate === undefined && s.statementTypes[0] !== 'DiscardStmt') return undefined;
    return () => this.#rememberSqlPrepared([s]);
  }

  #rememberSqlPrepared(statements: StatementInspection[]): void {
    for (const s of statements) {
      const ext = s as StatementInspection & { prepare?: { name: string; body: StatementInspection }; deallocate?: string };
      if (ext.prepare) this.#sqlPrepared.set(ext.prepare.name.toLowerCase(), ext.prepare.body);
      if (ext.deallocate === '*') this.#sqlPrepared.clear();
      else if (ext.deallocate) this.#sqlPrepared.delete(ext.deallocate.toLowerCase());
      if (s.statementTypes[0] === 'DiscardStmt') {
        this.#sqlPrepared.clear();
        this.#statements.clear();
        this.#portals.clear();
      }
    }
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
      this.#unconfirmed.push(READY);
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
        this.#unconfirmed.push(READY);
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

  #fromUpstream(chunk: Buffer): void {
    // After shutdown nobody is listening, and every statement's outcome is already recorded.
    if (this.#closed) return;
    const slices: Buffer[] = [];
    this.#slices = slices;
    try {
      // Messages passed or left unchanged are adjacent views of this read: they go out as one.
      this.#scanner.scan(chunk, this, (b) => {
        pushJoined(slices, b);
        this.#record(b);
      });
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message }, 'upstream stream is corrupt');
      this.#slices = undefined;
      return this.terminate('the upstream sent an invalid message');
    }
    this.#slices = undefined;
    writeTogether(this.#client, slices, (b) => this.#writeClient(b));
    if (this.#encodingLost !== undefined) return this.terminate(`the server switched client_encoding to "${this.#encodingLost}", which Airlock cannot inspect`);
    if (this.#client.writableNeedDrain) this.#upstream.pause(); // backpressure: resumed on the client's 'drain'
    // The answer is with the kernel now (socket writes are attempted at once): recording what was
    // sent cannot delay it, and doing it here saves the event-loop turn a deferral would cost.
    if (this.#finished.length) {
      const finished = this.#finished;
      this.#finished = [];
      for (const u of finished) this.#auditOutcomes(u);
    }
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
          return 'hold';
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
        return this.#unconfirmed[0] !== READY ? 'peek' : 'pass';
      default:
        return 'pass';
    }
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
      case B.CloseComplete: {
        const head = this.#unconfirmed[0];
        if (head && head.kind === (type === B.ParseComplete ? 'parse' : 'close')) {
          this.#unconfirmed.shift();
          head.apply();
          this.#maybeConfirmed();
        }
        return raw;
      }
      case B.ReadyForQuery:
        this.#ready(String.fromCharCode(body[0]!) as TransactionStatus);
        return undefined;
      case B.CommandComplete: {
        const { tag, rows } = decodeCommandTag(body);
        unit?.complete(rows);
        this.#countTag(tag, rows);
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
    // Whatever was not confirmed before this point the server skipped after an error.
    const through = this.#unconfirmed.indexOf(READY);
    if (through === 0) this.#unconfirmed.shift();
    else if (through > 0) {
      this.#unconfirmed.splice(0, through + 1);
      this.#maybeConfirmed();
    }
    this.#txStatus = status;
    this.#zReceived++;
    const done = this.#units.shift();
    // Outcomes are audited once this chunk is written to the client: off the response's critical path.
    if (done) this.#finished.push(done);
    if (this.#clientEnded) queueMicrotask(() => this.#maybeFinish()); // after this message is written
    // A swap that never happened (the server was already skipping to Sync) is void now.
    while (this.#substitutions[0] && this.#substitutions[0].epoch < this.#zReceived) this.#substitutions.shift();
  }

  // ---------------------------------------------------------------- issue 32: tasks and budgets

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
    this.#ready(status);
    return Buffer.concat([...r.out, readyForQuery(status)]);
  }

  /** What a task has done, from the server's command tags (rows affected under a guard are counted there). */
  #countTag(tag: string, rows: number | undefined): void {
    const task = this.#o.principal.task;
    if (!task || rows === undefined) return;
    if (/^(INSERT|UPDATE|DELETE|MERGE)\b/.test(tag)) task.usage.rowsAffected += rows;
    else if (/^(SELECT|FETCH)\b/.test(tag)) task.usage.rowsReturned += rows;
  }

  /**
   * A task's limits before statements run: still active, statements left, rows returned and bytes
   * read not spent, and writes the server's count can measure when rows affected are limited (the
   * guard then runs the statement under a savepoint).
   */
  #taskBudgetCheck(decided: Decided[]): Refused | undefined {
    const task = this.#o.principal.task;
    if (!task || decided.length === 0) return undefined;
    const refuse = (r: AirlockRefusal) => {
      task.usage.refusals++;
      return new Refused(statementRefusal(r));
    };
    const usable = taskUsable(task);
    if (!usable.ok) return refuse({ code: 'task_expired', message: usable.reason, next: { taskId: task.id } });
    const spent = (budget: 'statements' | 'rowsReturned' | 'bytesRead' | 'rowsAffected', message: string) =>
      refuse({ code: 'budget_exceeded', message, next: { taskId: task.id, budget } });
    if (wouldExceed(task.budget, task.usage, 'statements', decided.length)) return spent('statements', `task ${task.id} may run ${task.budget.statements} statements and has run ${task.usage.statements}`);
    if (remaining(task.budget, task.usage, 'rowsReturned') === 0) return spent('rowsReturned', `task ${task.id} has returned all ${task.budget.rowsReturned} rows it may`);
    if (remaining(task.budget, task.usage, 'bytesRead') === 0) return spent('bytesRead', `task ${task.id} has read all ${task.budget.bytesRead} bytes it may`);
    const left = remaining(task.budget, task.usage, 'rowsAffected');
    const writes = decided.filter((x) => x.s.class === 'write' || x.s.class === 'destructive');
    if (left !== -1 && writes.length > 0 && this.#txStatus !== 'E') {
      const countable = decided.length === 1 && countableDml(decided[0]!.s) && this.#decidingEndsWithSync && !this.#forwardedSinceSync;
      if (!countable) {
        const what = writes.some((x) => uncountableWrite(x.s)) ? 'a write whose rows the server does not count (COPY FROM, a data-modifying CTE, a function)' : 'several statements at once';
        return spent('rowsAffected', `under a rows-affected budget, send one INSERT, UPDATE, DELETE or MERGE at a time (this is ${what})`);
      }
      if (left === 0) return spent('rowsAffected', `task ${task.id} has affected all ${task.budget.rowsAffected} rows it may`);
      this.#pendingGuard = left;
    }
    task.usage.statements += decided.length;
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
    this.#pendingGuard = undefined;
    return new Refused(statementRefusal(spent));
  }

  /** A statement refused for a task's limits is audited like any refusal. */
  async #auditBudgetRefusal(decided: Decided[], refused: Refused): Promise<Refused> {
    const x = decided[0]!;
    const policy = this.#o.ctx.policy();
    await this.#auditStatement(x.id, x.s, { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: 'refused by the task\'s or the agent\'s limits (budget_exceeded / task_expired)' }, undefined, x.params);
    return refused;
  }

  // ---------------------------------------------------------------- end issue 32

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
    // Socket reads and the gateway's own messages are never written to again: kept without a copy.
    if (s) (s.capture ??= newCapture()).addOwned(b);
  }

  get wantsBoundary(): boolean {
    const head = this.#output[0];
    return head !== undefined && head.zTarget <= this.#zReceived;
  }

  boundary(): void {
    this.#flushOutput();
  }

  /** Queues the gateway's own output to follow every answer already due from the upstream. */
  #enqueue(buf: Buffer | undefined, z: boolean): void {
    this.#output.push({ zTarget: this.#zForwarded, buf, z });
    if (this.#scanner.atBoundary) this.#flushOutput();
  }

  #flushOutput(): void {
    while (this.#output[0] && this.#output[0].zTarget <= this.#zReceived) {
      const item = this.#output.shift()!;
      if (item.buf) this.#emit(item.buf);
      if (item.z) this.#emit(readyForQuery(this.#txStatus));
    }
  }

  #emit(buf: Buffer): void {
    if (this.#slices) this.#slices.push(buf);
    else this.#writeClient(buf);
  }

  #writeClient(buf: Buffer): void {
    if (this.#client.destroyed) return;
    this.#stats.bytesOut += buf.length;
    this.#client.write(buf);
  }

  // ---------------------------------------------------------------- errors, audit, shutdown

  #policyError(s: StatementInspection, d: Decision, why?: string): Buffer {
    const policies = d.policyIds.length ? d.policyIds.join(', ') : '(default deny)';
    // The one refusal contract (issue 32): a code, and for a refused read or write the task scope that would cover it.
    const code = d.effect === 'approve' ? 'approval_required' : 'policy_denied';
    // A task can only lift a default deny: a forbid that matched (policyIds) refuses inside any task too.
    const liftableByTask = d.effect === 'deny' && d.policyIds.length === 0;
    const access = !liftableByTask ? undefined : s.class === 'read' ? 'read' : s.class === 'write' || s.class === 'destructive' ? 'write' : undefined;
    const contract: AirlockRefusal = { code, message: why ?? d.reason, next: { ...(access ? { taskScope: scopeToAsk(access, s.tables) } : {}), ...(this.#o.principal.task ? { taskId: this.#o.principal.task.id } : {}) } };
    if (this.#o.principal.task) this.#o.principal.task.usage.refusals++;
    return errorResponse({
      severity: 'ERROR',
      code: SQLSTATE.insufficientPrivilege,
      message: `Airlock refused this ${s.class} statement: ${why ?? d.reason}`,
      detail: `${refusalDetail(contract)}; policy: ${policies}; class: ${s.class}; policy version: ${d.policyVersion}${s.reasons.length ? `; found: ${s.reasons.join('; ')}` : ''}`,
      hint: d.effect === 'approve' ? 'This statement needs a reviewer’s approval.' : refusalHint(contract),
    });
  }

  #parseError(error: string): Buffer {
    return errorResponse({ severity: 'ERROR', code: SQLSTATE.syntaxError, message: `Airlock refused a statement it cannot parse: ${error}` });
  }

  #auditError(reason: string): Buffer {
    return errorResponse({ severity: 'ERROR', code: SQLSTATE.systemError, message: `Airlock refused the statement: the audit trail cannot accept events (${reason})` });
  }

  #protocolFatal(err: Error): void {
    const tooLarge = err instanceof MessageTooLargeError;
    this.#o.log.info({ err: err.message }, 'protocol error from client');
    void this.#audit({
      type: 'auth.refused',
      sessionId: this.#o.sessionId,
      code: tooLarge ? 'message_too_large' : 'protocol',
      reason: err.message,
      target: this.#o.target.info.name,
      client: { address: this.#client.remoteAddress ?? 'unknown', port: this.#client.remotePort ?? 0 },
    });
    // A server cannot resynchronise after a framing error either: the session ends with a FATAL.
    this.#writeClient(
      errorResponse({ severity: 'FATAL', code: tooLarge ? SQLSTATE.programLimitExceeded : SQLSTATE.protocolViolation, message: tooLarge ? err.message : `invalid frontend message: ${err.message}` }),
    );
    this.#shutdown(`protocol error: ${err.message}`, tooLarge ? err.total - this.#reader.bufferedBytes : 0);
  }

  #nextStatementId(): string {
    return `${this.#o.sessionId}/${++this.#statementSeq}`;
  }

  #statementEvent(statementId: string, s: StatementInspection, d: Decision, approvalId?: string, parameters?: string[]): AuditEventInput {
    // Keys in sorted order: the audit renders such an event without a sorted copy (chain.ts).
    return {
      approvalId,
      class: s.class,
      decision: auditedDecision(d),
      functions: s.functions,
      parameters,
      sessionId: this.#o.sessionId,
      statementId,
      statementTypes: s.statementTypes,
      tables: s.tables,
      text: this.#maskedTexts.get(s) ?? s.text,
      type: 'statement',
    };
  }

  /** Audits a refusal; failures are logged, the refusal stands either way. */
  async #auditStatement(statementId: string, s: StatementInspection, d: Decision, approvalId?: string, parameters?: string[]): Promise<Refused | undefined> {
    try {
      await this.#o.ctx.audit.append(this.#statementEvent(statementId, s, d, approvalId, parameters));
      return undefined;
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message }, 'audit append failed');
      return new Refused(this.#auditError((err as Error).message));
    }
  }

  /** A statement that would change the client encoding: refused whatever policy says, audited, session kept. */
  async #refuseEncodingChange(refusal: EncodingRefusal, statements: readonly StatementInspection[], endsWithSync: boolean): Promise<void> {
    const policy = this.#o.ctx.policy();
    const s = statements.find((x) => x.statementTypes.includes('VariableSetStmt') || x.functions.some((f) => f.endsWith('set_config'))) ?? statements[0]!;
    await this.#auditStatement(this.#nextStatementId(), s, { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: refusal.message });
    this.#refuse(errorResponse({ severity: 'ERROR', code: refusal.code, message: refusal.message, hint: refusal.hint }), endsWithSync);
  }

  async #auditUnparsable(sql: string, error: string): Promise<void> {
    // A large text is recorded by size and digest: masking megabytes would stall the loop.
    const text = sql.length > this.#o.statementLimits.offloadAboveBytes ? this.#describeUninspected(sql) : sql;
    const s: StatementInspection = { class: 'opaque', statementTypes: [], tables: [], functions: [], dmlWithoutWhere: false, reasons: [`does not parse: ${error}`], text };
    const policy = this.#o.ctx.policy();
    await this.#auditStatement(this.#nextStatementId(), s, { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: 'statement does not parse (fail closed)' });
  }

  /** Outcomes are deferred where the sink can: they then share the write of the session's next event. */
  #auditOutcomes(unit: ResponseUnit): void {
    const audit = this.#o.ctx.audit;
    const task = this.#o.principal.task;
    for (const o of unit.outcomes()) {
      if (task) task.usage.bytesRead += o.bytes;
      // Keys in sorted order: the audit renders such an event without a sorted copy (chain.ts).
      const e: AuditEventInput = {
        bytes: o.bytes,
        durationMs: o.durationMs,
        error: o.error,
        masking: o.masking,
        response: o.response,
        rows: o.rows,
        sessionId: this.#o.sessionId,
        statementId: o.statementId,
        status: o.status,
        type: 'statement.outcome',
      };
      if (!audit.appendDeferred) {
        void this.#audit(e);
        continue;
      }
      try {
        audit.appendDeferred(e);
      } catch (err) {
        this.#o.log.error({ err: (err as Error).message, type: e.type }, 'audit append failed');
      }
    }
  }

  async #audit(e: AuditEventInput): Promise<void> {
    try {
      await this.#o.ctx.audit.append(e);
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message, type: e.type }, 'audit append failed');
    }
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
      this.#auditOutcomes(u);
    }
    void this.#audit({
      type: 'session.end',
      sessionId: this.#o.sessionId,
      reason,
      statements: this.#stats.statements,
      bytesIn: this.#stats.bytesIn,
      bytesOut: this.#stats.bytesOut,
      durationMs: Date.now() - this.#stats.startedAt,
    });
    this.#o.log.info({ reason, statements: this.#stats.statements }, 'session ended');
    for (const fn of this.#closeHandlers) fn();
  }
}
