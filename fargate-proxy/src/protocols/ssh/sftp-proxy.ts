// The SFTP subsystem (sftp, and scp in its default SFTP mode): ssh2's SFTP server faces the agent,
// ssh2's SFTP client faces the target. Every request that names a path is decided by policy
// (`file_read` for reads, listing and stat, `file_write` for anything that changes the server) and
// audited before it is forwarded; requests on an open handle ride on the decision that opened it.
// Paths are decided where the server resolves them (its own REALPATH: symlinks and `..` followed)
// and forwarded resolved. A refused request gets PERMISSION_DENIED with a message and the SFTP
// session carries on.
import { posix } from 'node:path';
import ssh2, { type Attributes, type FileEntry, type SFTPWrapper } from 'ssh2';
import type { Decision, Principal } from '../../../../core/model.js';
import type { SshGatewayContext, SshTarget } from './context.js';
import { audit } from './decide.js';
import { holdForApproval } from './approval-hold.js';
import { OrderedDigest } from './transfer-digest.js';
import { resolveServerPath, type UpstreamError } from './sftp-paths.js';

const { STATUS_CODE, OPEN_MODE } = ssh2.utils.sftp;
const CHANGES_FILE = OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC;
/** Longest READ forwarded in one request: OpenSSH's own limit is 256 KiB per packet. */
const MAX_READ = 256 * 1024;

export interface SftpScope {
  ctx: SshGatewayContext;
  sessionId: string;
  principal: Principal;
  target: SshTarget;
  nextStatementId(): string;
  /** Counts bytes for the session summary. */
  onBytes(direction: 'in' | 'out', n: number): void;
  onStatement(): void;
  /** Withdraws a request held for approval when the agent goes away. */
  onAbort?(cancel: (reason: string) => void): void;
}

interface OpenHandle {
  upstream: Buffer;
  path: string;
  kind: 'file' | 'dir';
  access: 'read' | 'write';
  statementId: string;
  started: number;
  read: OrderedDigest;
  written: OrderedDigest;
  failed?: string;
}

type Access = 'read' | 'write';
interface Op {
  /** The class of the request: `write` when it may change the server. */
  access: Access;
  /** Open for reading and writing: reading must be permitted too. */
  alsoRead?: boolean;
  operation: string;
  /** Every path the request names, as sent; each one is resolved by the server, then decided. */
  paths: string[];
  /** The request acts on a symlink's target, not on the link (open, stat, opendir, setstat, realpath). */
  follows: boolean;
}

/**
 * Handlers are attached at once (the agent's first request follows the subsystem request
 * immediately); requests wait for the upstream SFTP session where they need it.
 */
export function relaySftp(scope: SftpScope, agent: SFTPWrapper, upstreamReady: Promise<SFTPWrapper>): void {
  const { ctx, principal, target } = scope;
  // Every request that reaches the upstream first passes `gate`, which awaits this.
  let upstream!: SFTPWrapper;
  upstreamReady.then(
    (u) => {
      upstream = u;
      u.on('close', () => agent.end());
      u.on('error', () => agent.end());
    },
    () => agent.end(),
  );
  const handles = new Map<string, OpenHandle>();
  let nextHandle = 0;

  /**
   * Decides and audits one request; when it may go ahead, resolves to its statement id and its
   * paths as the server resolved them (what the request is to be sent with).
   */
  const gate = async (reqid: number, op: Op): Promise<{ statementId: string; paths: string[] } | undefined> => {
    try {
      await upstreamReady;
    } catch (err) {
      agent.status(reqid, STATUS_CODE.NO_CONNECTION, `airlock: the target's SFTP service is unavailable`);
      return undefined;
    }
    const sent = op.paths;
    const resolved: string[] = [];
    let unresolvable: string | undefined;
    for (const path of sent) {
      const r = await resolveServerPath(upstream, path, op.follows);
      if ('error' in r) return void fail(reqid, r.error);
      if ('refuse' in r) unresolvable ??= r.refuse;
      else resolved.push(r.path);
    }
    op = { ...op, paths: unresolvable ? sent : resolved };
    const policy = ctx.policy();
    let decision: Decision | undefined;
    let refusedAction = '';
    const checks: Access[] = op.alsoRead ? ['read', op.access] : [op.access];
    // A deny anywhere refuses; otherwise one approval (the first path that asks) covers the request.
    let needsApproval: { decision: Decision; action: string } | undefined;
    for (const [access, path] of unresolvable ? [] : checks.flatMap((a) => op.paths.map((p) => [a, p] as const))) {
      const d = policy.authorizeFileOperation(principal, target.info, { access, operation: op.operation, path });
      const action = access === 'read' ? 'file_read' : 'file_write';
      if (d.effect === 'deny') {
        refusedAction = action;
        decision = d;
        needsApproval = undefined;
        break;
      }
      if (d.effect === 'approve') needsApproval ??= { decision: d, action };
      else decision ??= d;
    }
    if (unresolvable) decision = { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: unresolvable };
    const statementId = scope.nextStatementId();
    scope.onStatement();
    const shown = sent.map((p, i) => (op.paths[i] === p ? p : `${p} (${op.paths[i]})`));
    const text = `sftp ${op.operation} ${shown.join(' -> ')}`;
    const event = (d: Decision) => ({
      type: 'statement' as const,
      sessionId: scope.sessionId,
      statementId,
      text,
      class: op.access,
      statementTypes: [`sftp.${op.operation}`],
      tables: op.paths,
      functions: [],
      decision: { effect: d.effect, policyIds: d.policyIds, policyVersion: d.policyVersion, reason: d.reason },
    });
    let approvalId: string | undefined;
    if (needsApproval) {
      const held = await holdForApproval(
        scope,
        { statementId, text, class: op.access, shape: `sftp:${op.operation}|${op.access}|${op.paths.join('|')}`, what: `this ${needsApproval.action} (sftp ${op.operation})` },
        needsApproval.decision,
      );
      approvalId = held.approvalId;
      decision = held.decision;
      if (!held.approved) {
        await audit(ctx, { ...event(held.decision), approvalId });
        agent.status(reqid, STATUS_CODE.PERMISSION_DENIED, held.message);
        return undefined;
      }
    }
    if (!decision || decision.effect !== 'allow') {
      const d = decision ?? { effect: 'deny' as const, policyIds: [], policyVersion: policy.version, reason: 'no path given' };
      await audit(ctx, event(d));
      const policies = d.policyIds.length ? d.policyIds.join(', ') : '(default deny)';
      agent.status(reqid, STATUS_CODE.PERMISSION_DENIED, `airlock: refused: ${d.reason} (${refusedAction || op.access}; policy ${policies})`);
      return undefined;
    }
    const health = ctx.audit.health();
    try {
      if (!health.ok) throw new Error(health.reason);
      await ctx.audit.append({ ...event(decision), approvalId });
    } catch (err) {
      agent.status(reqid, STATUS_CODE.PERMISSION_DENIED, `airlock: refused: the audit trail cannot accept events (${(err as Error).message})`);
      return undefined;
    }
    return { statementId, paths: op.paths };
  };

  const outcome = (statementId: string, started: number, err: UpstreamError | undefined, extra: { bytes?: number; sha256?: string; pieces?: number } = {}) =>
    void audit(ctx, {
      type: 'statement.outcome',
      sessionId: scope.sessionId,
      statementId,
      status: err ? 'error' : 'ok',
      bytes: extra.bytes ?? 0,
      durationMs: Date.now() - started,
      error: err ? { code: `sftp ${statusName(err.code)}`, message: err.message } : undefined,
      // A transfer's digest proves which bytes went through without storing them.
      response: extra.sha256 !== undefined ? { chunks: undefined, truncated: false, sha256: extra.sha256, totalBytes: extra.bytes ?? 0, totalChunks: extra.pieces } : undefined,
    });

  /** Answers the agent with the target's own status when the target refused. */
  const fail = (reqid: number, err: UpstreamError) =>
    agent.status(reqid, typeof err.code === 'number' ? err.code : STATUS_CODE.FAILURE, err.message);

  /** A path request: decide, forward (with the resolved paths), answer, record the outcome. */
  const pathRequest = <T>(reqid: number, op: Op, call: (paths: string[], cb: (err?: UpstreamError | null, result?: T) => void) => void, answer: (result: T) => void) =>
    void gate(reqid, op).then((go) => {
      if (!go) return;
      const { statementId, paths } = go;
      const started = Date.now();
      call(paths, (err, result) => {
        outcome(statementId, started, err ?? undefined);
        if (err) return fail(reqid, err);
        answer(result as T);
      });
    });

  const ok = (reqid: number) => () => agent.status(reqid, STATUS_CODE.OK);
  const attrsOf = (reqid: number) => (stats: Attributes) => agent.attrs(reqid, stats);

  const lookup = (reqid: number, handle: Buffer): OpenHandle | undefined => {
    const h = handles.get(handle.toString('hex'));
    if (!h) agent.status(reqid, STATUS_CODE.FAILURE, 'invalid handle');
    return h;
  };

  const remember = (reqid: number, upstreamHandle: Buffer, h: Omit<OpenHandle, 'upstream' | 'read' | 'written'>) => {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(nextHandle++ >>> 0);
    handles.set(id.toString('hex'), { ...h, upstream: upstreamHandle, read: new OrderedDigest(), written: new OrderedDigest() });
    agent.handle(reqid, id);
  };

  agent.on('OPEN', (reqid: number, path: string, flags: number, attrs: Attributes) => {
    const access: Access = flags & CHANGES_FILE ? 'write' : 'read';
    const alsoRead = access === 'write' && (flags & OPEN_MODE.READ) !== 0;
    void gate(reqid, { access, alsoRead, operation: 'open', paths: [path], follows: true }).then((go) => {
      if (!go) return;
      const { statementId } = go;
      const started = Date.now();
      path = go.paths[0]!;
      upstream.open(path, flags, attrs, (err, handle) => {
        if (err) {
          outcome(statementId, started, err);
          return fail(reqid, err);
        }
        remember(reqid, handle, { path, kind: 'file', access, statementId, started });
      });
    });
  });

  agent.on('READ', (reqid: number, handle: Buffer, offset: number, len: number) => {
    const h = lookup(reqid, handle);
    if (!h) return;
    const n = Math.min(len, MAX_READ);
    upstream.read(h.upstream, Buffer.alloc(n), 0, n, offset, (err, bytesRead, buf) => {
      if (err) return fail(reqid, err);
      // ssh2's client reports the server's EOF status as a read of zero bytes; clients need the status.
      if (bytesRead === 0 && n > 0) return agent.status(reqid, STATUS_CODE.EOF);
      const data = buf.subarray(0, bytesRead);
      h.read.add(offset, data);
      scope.onBytes('out', data.length);
      agent.data(reqid, data);
    });
  });

  agent.on('WRITE', (reqid: number, handle: Buffer, offset: number, data: Buffer) => {
    const h = lookup(reqid, handle);
    if (!h) return;
    if (h.access !== 'write') return agent.status(reqid, STATUS_CODE.PERMISSION_DENIED, `airlock: refused: ${h.path} was opened for reading`);
    scope.onBytes('in', data.length);
    upstream.write(h.upstream, data, 0, data.length, offset, (err) => {
      if (err) {
        h.failed = err.message;
        return fail(reqid, err);
      }
      h.written.add(offset, data);
      agent.status(reqid, STATUS_CODE.OK);
    });
  });

  agent.on('CLOSE', (reqid: number, handle: Buffer) => {
    const h = lookup(reqid, handle);
    if (!h) return;
    handles.delete(handle.toString('hex'));
    upstream.close(h.upstream, (err) => {
      if (h.kind === 'file') {
        const digest = (h.access === 'write' ? h.written : h.read).finish();
        const failure = err ?? (h.failed ? Object.assign(new Error(h.failed), { code: STATUS_CODE.FAILURE }) : undefined);
        outcome(h.statementId, h.started, failure, { bytes: digest.bytes, sha256: digest.sha256, pieces: digest.pieces });
      }
      if (err) return fail(reqid, err);
      agent.status(reqid, STATUS_CODE.OK);
    });
  });

  agent.on('FSTAT', (reqid: number, handle: Buffer) => {
    const h = lookup(reqid, handle);
    if (!h) return;
    upstream.fstat(h.upstream, (err, stats) => (err ? fail(reqid, err) : agent.attrs(reqid, stats)));
  });

  agent.on('FSETSTAT', (reqid: number, handle: Buffer, attrs: Attributes) => {
    const h = lookup(reqid, handle);
    if (!h) return;
    // Changing modes or times changes the server, whatever the handle was opened for.
    pathRequest<void>(reqid, { access: 'write', operation: 'fsetstat', paths: [h.path], follows: true }, (_, cb) => upstream.fsetstat(h.upstream, attrs, cb), ok(reqid));
  });

  agent.on('OPENDIR', (reqid: number, path: string) => {
    void gate(reqid, { access: 'read', operation: 'opendir', paths: [path], follows: true }).then((go) => {
      if (!go) return;
      const { statementId } = go;
      const started = Date.now();
      path = go.paths[0]!;
      upstream.opendir(path, (err, handle) => {
        outcome(statementId, started, err);
        if (err) return fail(reqid, err);
        remember(reqid, handle, { path, kind: 'dir', access: 'read', statementId, started });
      });
    });
  });

  agent.on('READDIR', (reqid: number, handle: Buffer) => {
    const h = lookup(reqid, handle);
    if (!h) return;
    // `full` keeps `.` and `..`, which ssh2 otherwise filters out: the agent sees what the server sent.
    const readdir = upstream.readdir as unknown as (h: Buffer, o: { full: boolean }, cb: (err: UpstreamError | undefined, list: FileEntry[]) => void) => void;
    readdir.call(upstream, h.upstream, { full: true }, (err, list) => (err ? fail(reqid, err) : agent.name(reqid, list)));
  });

  const name = (reqid: number) => (to: string) => agent.name(reqid, [{ filename: to, longname: to, attrs: {} as Attributes }]);
  const follows = (access: Access, operation: string, path: string): Op => ({ access, operation, paths: [path], follows: true });
  const onName = (access: Access, operation: string, ...paths: string[]): Op => ({ access, operation, paths, follows: false });
  agent.on('STAT', (reqid: number, path: string) => pathRequest(reqid, follows('read', 'stat', path), ([p], cb) => upstream.stat(p!, cb), attrsOf(reqid)));
  agent.on('LSTAT', (reqid: number, path: string) => pathRequest(reqid, onName('read', 'lstat', path), ([p], cb) => upstream.lstat(p!, cb), attrsOf(reqid)));
  // The server already answered while the path was resolved: that answer is the reply.
  agent.on('REALPATH', (reqid: number, path: string) => pathRequest<string>(reqid, follows('read', 'realpath', path), ([p], cb) => cb(null, p), name(reqid)));
  agent.on('READLINK', (reqid: number, path: string) => pathRequest<string>(reqid, onName('read', 'readlink', path), ([p], cb) => upstream.readlink(p!, cb), name(reqid)));
  agent.on('SETSTAT', (reqid: number, path: string, attrs: Attributes) => pathRequest<void>(reqid, follows('write', 'setstat', path), ([p], cb) => upstream.setstat(p!, attrs, cb), ok(reqid)));
  agent.on('MKDIR', (reqid: number, path: string, attrs: Attributes) => pathRequest<void>(reqid, onName('write', 'mkdir', path), ([p], cb) => upstream.mkdir(p!, attrs, cb), ok(reqid)));
  agent.on('RMDIR', (reqid: number, path: string) => pathRequest<void>(reqid, onName('write', 'rmdir', path), ([p], cb) => upstream.rmdir(p!, cb), ok(reqid)));
  agent.on('REMOVE', (reqid: number, path: string) => pathRequest<void>(reqid, onName('write', 'remove', path), ([p], cb) => upstream.unlink(p!, cb), ok(reqid)));
  agent.on('RENAME', (reqid: number, from: string, to: string) => pathRequest<void>(reqid, onName('write', 'rename', from, to), ([f, t], cb) => upstream.rename(f!, t!, cb), ok(reqid)));
  // ssh2 hands the server (linkPath, targetPath) whichever order the client wrote them in. A link
  // is a new name for its target, so the target must be readable too: where it resolves from the
  // link's directory. The link keeps the target as the agent wrote it.
  agent.on('SYMLINK', (reqid: number, linkPath: string, targetPath: string) => {
    const target = posix.isAbsolute(targetPath) ? targetPath : posix.join(posix.dirname(linkPath), targetPath);
    void gate(reqid, follows('read', 'symlink-target', target)).then((readable) => {
      if (!readable) return;
      pathRequest<void>(reqid, onName('write', 'symlink', linkPath), ([l], cb) => upstream.symlink(targetPath, l!, cb), ok(reqid));
    });
  });
  agent.on('EXTENDED', (reqid: number) => agent.status(reqid, STATUS_CODE.OP_UNSUPPORTED, 'airlock: SFTP extensions are not supported'));

  let closed = false;
  const closeBoth = () => {
    if (closed) return;
    closed = true;
    for (const h of handles.values()) if (h.kind === 'file') outcome(h.statementId, h.started, Object.assign(new Error('the transfer was interrupted before the file was closed'), { code: STATUS_CODE.CONNECTION_LOST }), { bytes: (h.access === 'write' ? h.written : h.read).finish().bytes });
    handles.clear();
    upstreamReady.then((u) => u.end(), () => undefined);
    sendExitStatus(agent, 0);
    agent.end();
  };
  // The client's EOF ends the subsystem: the channel closes only when we end our side too.
  agent.on('end', closeBoth);
  agent.on('close', closeBoth);
  agent.on('error', () => closeBoth());
}

function statusName(code: number | undefined): string {
  const entry = Object.entries(STATUS_CODE).find(([, v]) => v === code);
  return entry ? entry[0] : 'FAILURE';
}

/**
 * scp (through ssh) fails a transfer whose channel closes without an exit status, and ssh2's
 * server-side SFTPWrapper has no `exit()`: send the status the way ssh2's own Channel does.
 */
function sendExitStatus(agent: SFTPWrapper, status: number): void {
  const chan = agent as unknown as { outgoing?: { id: number; state: string }; _protocol?: { exitStatus(id: number, status: number): void } };
  if (chan.outgoing?.state === 'open' || chan.outgoing?.state === 'eof') chan._protocol?.exitStatus(chan.outgoing.id, status);
}
