// One agent connection: token login (password or keyboard-interactive), connect authorisation,
// the upstream login, then every channel request decided by policy before it reaches the target.
import type { ExecOptions, ShellOptions, X11Options, Client as UpstreamClient, ClientChannel, Connection, AuthContext, Session, ServerChannel, SFTPWrapper } from 'ssh2';
import type { Decision, Principal } from '../../../../core/model.js';
import { TokenRejectedError } from '../../../../core/identity/index.js';
import { refusalDetail, type Refusal } from '../../../../core/refusal.js';
import { auditPrincipal, newAuditSessionId } from '../../../../core/audit/events.js';
import type { SshGatewayContext, SshTarget } from './context.js';
import { audit, decideCommand, execText, type CommandScope } from './decide.js';
import type { InheritedVariable } from '../../../../core/shell/index.js';
import { holdForApproval } from './approval-hold.js';
import { connectUpstream, UpstreamAuthError } from './upstream.js';
import { LineMasker } from './mask-stream.js';
import { join } from 'node:path';
import { relaySftp } from './sftp-proxy.js';
import { relayShell } from './shell-relay.js';
import { AsciicastRecorder } from './asciicast.js';
import { bridgeAgentChannels, openAgentChannel } from './agent-forward.js';
import { RemoteForwards } from './remote-forward.js';

function maskingSummary(...streams: LineMasker[]): { counts: Record<string, number>; total: number } {
  const counts: Record<string, number> = {};
  for (const s of streams) for (const [k, n] of Object.entries(s.counts)) counts[k] = (counts[k] ?? 0) + n;
  return { counts, total: streams.reduce((t, s) => t + s.masked, 0) };
}

/** What a session channel asked to forward, as decided (agent: granted; x11: the request to pass on). */
interface Forwarding {
  agent: Promise<boolean>;
  x11: Promise<X11Options | undefined>;
}

function shellOptions(env: Record<string, string>, agentForward: boolean, x11: X11Options | undefined): ShellOptions {
  const options: ShellOptions & { agentForward: boolean } = { env, agentForward, x11 };
  return options;
}

/** Exit status of a refused command: 126 is the shell's "found but cannot be executed". */
export const REFUSED_EXIT_STATUS = 126;

type Pty = { term: string; cols: number; rows: number; width: number; height: number };

interface Authed {
  principal: Principal;
  target: SshTarget;
}

export class SshSession {
  readonly sessionId = newAuditSessionId();
  #authed: Authed | undefined;
  #upstream: Promise<UpstreamClient> | undefined;
  #seq = 0;
  #aborts: ((reason: string) => void)[] = [];
  #stats = { statements: 0, bytesIn: 0, bytesOut: 0, startedAt: Date.now() };
  #started = false;
  #ended = false;
  #releaseLive: (() => void) | undefined;
  /** Open exec and shell channels: what is told why when the gateway ends the session. */
  readonly #channels = new Set<ServerChannel>();
  /** The live shell's recorder hears about window changes. */
  #onResize: ((cols: number, rows: number) => void) | undefined;
  /** The decision that permitted agent forwarding on this connection, once one did. */
  #agentGrant: Decision | undefined;
  #x11Grant: Decision | undefined;
  #x11Bridged = false;
  /** The target's listening ports for `ssh -R`, created on the first permitted request. */
  #remoteForwards: RemoteForwards | undefined;
  readonly #log;
  readonly #clientAddr;

  constructor(
    private readonly ctx: SshGatewayContext,
    private readonly conn: Connection,
    info: { ip: string; port: number },
    authTimeoutMs: number,
  ) {
    this.#clientAddr = { address: info.ip, port: info.port };
    this.#log = ctx.log.child({ sessionId: this.sessionId, client: `${info.ip}:${info.port}`, protocol: 'ssh' });
    const deadline = setTimeout(() => conn.end(), authTimeoutMs);
    conn.on('authentication', (a) => void this.#authenticate(a));
    conn.on('ready', () => {
      clearTimeout(deadline);
      this.#ready();
    });
    conn.on('error', (err) => this.#log.debug({ err: err.message }, 'client connection error'));
    conn.on('close', () => {
      clearTimeout(deadline);
      this.#end('client disconnected');
    });
  }

  close(reason: string): void {
    this.#end(reason);
    this.conn.end();
  }

  /** A task's end or the kill switch: every open command or shell is told why on stderr, then the connection closes. */
  #endedByGateway(r: Refusal): void {
    const channels = [...this.#channels];
    const closed = channels.map((channel) => new Promise<void>((resolve) => channel.once('close', () => resolve())));
    for (const channel of channels) {
      try {
        channel.stderr.write(`\r\nairlock: ${r.message}\r\n${refusalDetail(r)}\r\n`);
        channel.exit(255);
        channel.end();
      } catch {
        /* the channel closed meanwhile */
      }
    }
    this.#end(`${r.code}: ${r.message}`);
    // The channels' streams flush after this turn: the connection ends once they have closed (at most a second).
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, 1000).unref());
    void Promise.race([Promise.all(closed), deadline]).then(() => this.conn.end());
  }

  // ------------------------------------------------------------------ authentication

  async #authenticate(a: AuthContext): Promise<void> {
    if (a.method === 'password') return this.#login(a, a.username, a.password);
    if (a.method === 'keyboard-interactive') {
      return a.prompt([{ prompt: 'Password (Airlock access token): ', echo: false }], 'Airlock', 'Paste your access token', (answers) => void this.#login(a, a.username, answers[0] ?? ''));
    }
    a.reject(['password', 'keyboard-interactive']);
  }

  async #login(a: AuthContext, targetName: string, token: string): Promise<void> {
    const refuse = (code: string, reason: string) => {
      this.#log.info({ code }, 'login refused');
      void audit(this.ctx, { type: 'auth.refused', sessionId: this.sessionId, code, reason, target: targetName, client: this.#clientAddr });
      a.reject(['password', 'keyboard-interactive']);
    };
    let principal: Principal;
    try {
      principal = await this.ctx.verifier.verify(token);
    } catch (err) {
      if (err instanceof TokenRejectedError) return refuse(`token_${err.code}`, `access token rejected: ${err.message}`);
      return refuse('token_error', 'access token could not be verified');
    }
    const target = this.ctx.sshTargets.get(targetName);
    if (!target) return refuse('unknown_target', `target "${targetName}" does not exist`);
    const grant = this.ctx.policy().authorizeConnect(principal, target.info);
    if (grant.effect !== 'allow') return refuse('connect_denied', `${principal.id} may not connect to target "${targetName}": ${grant.reason}`);
    const health = this.ctx.audit.health();
    if (!health.ok) return refuse('audit_unavailable', `the audit trail is unavailable (${health.reason})`);
    // Issue 32: a task token must cover this target; the session is registered for the kill switch and task ends.
    const admission = await this.ctx.sessions?.admit({ sessionId: this.sessionId, principal, target: targetName, protocol: 'ssh', startedAt: Date.now(), end: (r) => this.#endedByGateway(r) });
    if (admission && !admission.ok) return refuse(admission.refusal.code, admission.refusal.message);
    // The client left while the admission (a fleet-wide count) was being taken: the place goes back.
    if (this.#ended) return admission?.release();
    this.#releaseLive = admission?.release;
    this.#authed = { principal, target };
    a.accept();
  }

  #ready(): void {
    const { principal, target } = this.#authed!;
    this.#upstream = this.#openUpstream(target);
    this.#upstream.catch((err: Error) => this.#log.warn({ err: err.message }, 'upstream login failed'));
    this.#started = true;
    void audit(this.ctx, {
      type: 'session.start',
      sessionId: this.sessionId,
      principal: auditPrincipal(principal),
      target: target.info.name,
      targetKind: 'ssh',
      client: this.#clientAddr,
      protocol: 'ssh',
    });
    this.#log.info({ principal: principal.id, target: target.info.name }, 'session started');
    this.conn.on('session', (accept) => this.#session(accept()));
    this.conn.on('tcpip', (accept, reject, info) => void this.#directTcpip(accept, reject, info));
    this.conn.on('request', (accept, reject, name, info) => {
      if (name === 'tcpip-forward') return void this.#remoteForward(info, accept, reject);
      if (name === 'cancel-tcpip-forward') return void this.#cancelRemoteForward(info, accept, reject);
      void this.#auditChannel(`global request ${name}`, 'refused: this global request is not supported through Airlock');
      reject?.();
    });
  }

  async #openUpstream(target: SshTarget): Promise<UpstreamClient> {
    const credential = await this.ctx.secrets.get(target.credentialRef);
    try {
      return await connectUpstream(target.upstream, credential);
    } catch (err) {
      if (!(err instanceof UpstreamAuthError)) throw err;
      // Rotation: one fresh fetch after the target rejected the cached credential.
      return connectUpstream(target.upstream, await this.ctx.secrets.get(target.credentialRef, { refresh: true }));
    }
  }

  // ------------------------------------------------------------------ channels

  #scope(notify: (line: string) => void): CommandScope {
    const { principal, target } = this.#authed!;
    return {
      ctx: this.ctx,
      sessionId: this.sessionId,
      principal,
      target,
      nextStatementId: () => `${this.sessionId}/${++this.#seq}`,
      notify,
      onAbort: (cancel) => this.#aborts.push(cancel),
    };
  }

  #session(session: Session): void {
    let pty: { term: string; cols: number; rows: number; width: number; height: number } | undefined;
    let live: ClientChannel | undefined;
    const env: Record<string, string> = {};
    session.on('pty', (accept, _reject, info) => {
      pty = { term: info.term, cols: info.cols, rows: info.rows, width: info.width, height: info.height };
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows, width: info.width, height: info.height });
      live?.setWindow(info.rows, info.cols, info.height, info.width);
      this.#onResize?.(info.cols, info.rows);
      accept?.();
    });
    session.on('env', (accept, reject, info) => {
      // Only locale variables pass: LD_PRELOAD, PATH and friends would change what a decided command runs.
      if (/^(LANG|LC_[A-Z]+|TERM|TZ)$/.test(info.key)) {
        env[info.key] = info.val;
        accept?.();
      } else reject?.();
    });
    session.on('signal', (accept, _reject, info) => {
      live?.signal(info.name);
      accept?.();
    });
    // Commands and shells on this session wait for the agent-forwarding verdict, so that the
    // upstream request carries it.
    let agentForward: Promise<boolean> = Promise.resolve(false);
    session.on('auth-agent', (accept, reject) => {
      agentForward = this.#grantAgentForwarding().then((granted) => {
        if (granted) accept?.();
        else reject?.();
        return granted;
      });
    });
    let x11: Promise<X11Options | undefined> = Promise.resolve(undefined);
    session.on('x11', (accept, reject, info) => {
      x11 = this.#grantX11().then((granted) => {
        if (!granted) return void reject?.();
        accept?.();
        // ssh2 hands the cookie over as the raw bytes of its hex text; upstream wants the text.
        const cookie: unknown = info.cookie;
        return { single: info.single, protocol: info.protocol, screen: info.screen, cookie: Buffer.isBuffer(cookie) ? cookie.toString('latin1') : String(cookie) };
      });
    });
    session.on('exec', (accept, _reject, info) => {
      const channel = this.#track(accept());
      void this.#exec(channel, info.command, pty, env, (c) => (live = c), { agent: agentForward, x11 });
    });
    session.on('shell', (accept) => {
      const channel = this.#track(accept());
      void this.#shell(channel, pty, env, (c) => (live = c), { agent: agentForward, x11 });
    });
    session.on('sftp', (accept) => this.#sftp(accept()));
    session.on('subsystem', (accept, _reject, info) => {
      const channel = accept();
      void this.#auditChannel(`subsystem ${info.name}`, 'refused: only the sftp subsystem is available through Airlock');
      this.#refuseChannel(channel, `airlock: refused: the ${info.name} subsystem is not available through Airlock`);
    });
  }

  async #exec(
    channel: ServerChannel,
    text: string,
    pty: { term: string; cols: number; rows: number; width: number; height: number } | undefined,
    env: Record<string, string>,
    setLive: (c: ClientChannel) => void,
    forwarding: Forwarding,
  ): Promise<void> {
    const verdict = await decideCommand(
      this.#scope((line) => channel.stderr.write(`${line}\n`)),
      text,
      'exec',
    );
    this.#stats.statements++;
    if (!verdict.allowed) return this.#refuseChannel(channel, verdict.message ?? 'airlock: refused');
    let upstream: UpstreamClient;
    try {
      upstream = await this.#upstream!;
    } catch (err) {
      return this.#refuseChannel(channel, `airlock: cannot open a session on target "${this.#authed!.target.info.name}": ${(err as Error).message}`, 255);
    }
    const started = Date.now();
    const withAgent = await this.#forwardAgent(upstream, forwarding.agent);
    const x11 = await this.#forwardX11(upstream, forwarding.x11);
    // ssh2 honours `agentForward` on exec and shell; its type definitions omit it.
    const options: ExecOptions & { agentForward: boolean } = { pty: pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height } : undefined, env, agentForward: withAgent, x11 };
    // The target runs what was decided, not what was sent; its pty's TERM survives `env -i`.
    const inherit: InheritedVariable[] = [...(withAgent ? (['SSH_AUTH_SOCK'] as const) : []), ...(x11 ? (['DISPLAY'] as const) : [])];
    const forwarded = execText(verdict.command, pty ? { ...env, TERM: pty.term } : env, inherit);
    // Ended meanwhile (a task's end, the kill switch): the channel was told why; nothing is run.
    if (this.#ended) return;
    try {
      upstream.exec(forwarded, options, (err, up) => {
        if (err) return this.#refuseChannel(channel, `airlock: the target refused the command: ${err.message}`, 255);
        setLive(up);
        this.#pipe(channel, up, verdict.statementId, started);
      });
    } catch (err) {
      // The target's connection went away between the decision and the exec.
      this.#refuseChannel(channel, `airlock: cannot run the command on target "${this.#authed!.target.info.name}": ${(err as Error).message}`, 255);
    }
  }

  /** Relays one exec channel both ways with backpressure; output is masked when a masker is configured. */
  #pipe(channel: ServerChannel, up: ClientChannel, statementId: string, started: number): void {
    const masker = this.ctx.masker && this.ctx.policy().authorizeUnmasked(this.#authed!.principal, this.#authed!.target.info).effect !== 'allow' ? this.ctx.masker : undefined;
    let bytes = 0;
    const out = masker ? new LineMasker(masker) : undefined;
    const err = masker ? new LineMasker(masker) : undefined;
    const relay = (from: NodeJS.ReadableStream, to: NodeJS.WritableStream, m: LineMasker | undefined) => {
      from.on('data', (chunk: Buffer) => {
        const data = m ? m.push(chunk) : chunk;
        bytes += chunk.length;
        this.#stats.bytesOut += chunk.length;
        if (data.length && !to.write(data)) {
          (from as NodeJS.ReadableStream & { pause(): void }).pause();
          to.once('drain', () => (from as NodeJS.ReadableStream & { resume(): void }).resume());
        }
      });
    };
    relay(up, channel, out);
    relay(up.stderr, channel.stderr, err);
    channel.on('data', (chunk: Buffer) => {
      this.#stats.bytesIn += chunk.length;
      if (!up.write(chunk)) {
        channel.pause();
        up.once('drain', () => channel.resume());
      }
    });
    channel.on('end', () => up.end());
    channel.on('close', () => up.close());
    let exit: { code: number | null; signal?: string; core?: boolean; desc?: string } | undefined;
    up.on('exit', (code: number | null, signal?: string, core?: boolean, desc?: string) => (exit = { code, signal, core, desc }));
    up.on('close', () => {
      const tailOut = out?.flush();
      const tailErr = err?.flush();
      if (tailOut?.length) channel.write(tailOut);
      if (tailErr?.length) channel.stderr.write(tailErr);
      if (exit?.signal) channel.exit(exit.signal, exit.core ?? false, exit.desc ?? '');
      else if (exit && exit.code !== null) channel.exit(exit.code);
      channel.end();
      const ok = exit?.code === 0;
      void audit(this.ctx, {
        type: 'statement.outcome',
        sessionId: this.sessionId,
        statementId,
        status: ok ? 'ok' : 'error',
        bytes,
        durationMs: Date.now() - started,
        error: ok ? undefined : { code: exit?.signal ? `signal ${exit.signal}` : `exit ${exit?.code ?? 'unknown'}`, message: 'the command did not exit with status 0' },
        masking: masker ? maskingSummary(out!, err!) : undefined,
      });
    });
  }

  async #shell(channel: ServerChannel, pty: Pty | undefined, env: Record<string, string>, setLive: (c: ClientChannel) => void, forwarding: Forwarding): Promise<void> {
    const { principal, target } = this.#authed!;
    let d = this.ctx.policy().authorizeShell(principal, target.info, Boolean(pty));
    const what = `interactive shell${pty ? ` (pty ${pty.term} ${pty.cols}x${pty.rows})` : ' (no pty)'}`;
    if (d.effect === 'deny') {
      await this.#auditChannel(what, `refused: ${d.reason}`, d);
      return this.#refuseChannel(channel, `airlock: refused: ${d.reason}; run commands with \`ssh target@gateway COMMAND\``);
    }
    let approvalId: string | undefined;
    let heldId: string | undefined;
    if (d.effect === 'approve') {
      const statementId = `${this.sessionId}/${++this.#seq}`;
      const scope = this.#scope((line) => channel.stderr.write(`${line}\r\n`));
      const held = await holdForApproval(scope, { statementId, text: what, class: 'privileged', shape: `ssh-shell:${pty ? 'pty' : 'no-pty'}`, what: 'this interactive shell' }, d);
      approvalId = held.approvalId;
      if (!held.approved) {
        await this.#auditChannel(what, `refused: ${held.decision.reason}`, held.decision, { statementId, approvalId });
        return this.#refuseChannel(channel, held.message);
      }
      d = held.decision;
      heldId = statementId;
    }
    // An approved shell's statement keeps the id its approval was requested under.
    const statementId = await this.#auditChannel(what, 'allowed', d, { statementId: heldId, approvalId });
    if (!statementId) return this.#refuseChannel(channel, 'airlock: refused: the audit trail cannot accept events');
    this.#stats.statements++;
    let up: ClientChannel;
    try {
      const upstream = await this.#upstream!;
      const withAgent = await this.#forwardAgent(upstream, forwarding.agent);
      const x11 = await this.#forwardX11(upstream, forwarding.x11);
      up = await new Promise<ClientChannel>((resolve, reject) =>
        upstream.shell(pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height } : false, shellOptions(env, withAgent, x11), (err, c) => (err ? reject(err) : resolve(c))),
      );
    } catch (err) {
      return this.#refuseChannel(channel, `airlock: cannot open a shell on target "${target.info.name}": ${(err as Error).message}`, 255);
    }
    setLive(up);
    const started = Date.now();
    const file = this.ctx.recordingsDir ? join(this.ctx.recordingsDir, `${statementId}.cast`) : undefined;
    // A client without a terminal (ssh -tt from a pipe) asks for a 0x0 pty: players need a size.
    const recorder = new AsciicastRecorder({ width: pty?.cols || 80, height: pty?.rows || 24, term: pty?.term, title: `${principal.id} on ${target.info.name}` }, file);
    this.#onResize = (cols, rows) => recorder.resize(cols, rows);
    const masker = this.ctx.masker && this.ctx.policy().authorizeUnmasked(principal, target.info).effect !== 'allow' ? this.ctx.masker : undefined;
    const result = await relayShell({
      scope: this.#scope((line) => channel.write(`\r\n${line}\r\n`)),
      agent: channel,
      upstream: up,
      recorder,
      maxLineBytes: this.ctx.maxLineBytes ?? 16 * 1024,
      masker,
      onBytes: (direction, n) => (direction === 'in' ? (this.#stats.bytesIn += n) : (this.#stats.bytesOut += n)),
    });
    this.#onResize = undefined;
    const { capture, fileError } = await recorder.finish();
    if (fileError) this.#log.error({ err: fileError }, 'shell recording file could not be written');
    const ok = result.exit?.code === 0;
    // The recording is the shell's response: its SHA-256 in the audit chain vouches for the file.
    await audit(this.ctx, {
      type: 'statement.outcome',
      sessionId: this.sessionId,
      statementId,
      status: ok ? 'ok' : 'error',
      rows: result.linesAllowed,
      bytes: result.bytesOut,
      durationMs: Date.now() - started,
      error: ok ? undefined : { code: result.exit?.signal ? `signal ${result.exit.signal}` : `exit ${result.exit?.code ?? 'unknown'}`, message: `the shell did not exit with status 0 (${result.linesRefused} line(s) refused)` },
      masking: masker ? { counts: result.maskCounts, total: result.masked } : undefined,
      response: capture,
    });
  }

  #sftp(agent: SFTPWrapper): void {
    const upstream = this.#upstream!.then((client) => new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp)))));
    upstream.catch((err: Error) => this.#log.warn({ err: err.message }, 'upstream sftp unavailable'));
    const { principal, target } = this.#authed!;
    relaySftp(
      {
        ctx: this.ctx,
        sessionId: this.sessionId,
        principal,
        target,
        nextStatementId: () => `${this.sessionId}/${++this.#seq}`,
        onBytes: (direction, n) => (direction === 'in' ? (this.#stats.bytesIn += n) : (this.#stats.bytesOut += n)),
        onStatement: () => this.#stats.statements++,
        onAbort: (cancel) => this.#aborts.push(cancel),
      },
      agent,
      upstream,
    );
  }

  /** Decides and audits the agent's `auth-agent-req`; a grant counts only once its event is appended. */
  async #grantAgentForwarding(): Promise<boolean> {
    const { principal, target } = this.#authed!;
    const d = this.ctx.policy().authorizeForwarding(principal, target.info, 'agent_forward');
    if (d.effect !== 'allow') {
      await this.#auditChannel('agent forwarding', `refused: ${d.reason}`, d);
      return false;
    }
    if (!(await this.#auditChannel('agent forwarding', 'allowed', d))) return false;
    this.#agentGrant = d;
    return true;
  }

  /** Once granted, the target's agent channels are bridged to the agent; each use is audited first. */
  async #forwardAgent(upstream: UpstreamClient, requested: Promise<boolean>): Promise<boolean> {
    if (!(await requested) || !this.#agentGrant) return false;
    const grant = this.#agentGrant;
    bridgeAgentChannels(upstream, (cb) => {
      void this.#auditChannel('agent forwarding: the target opened an agent channel', 'allowed', grant).then((id) =>
        id ? openAgentChannel(this.conn, cb) : cb(new Error('the audit trail cannot accept events')),
      );
    });
    return true;
  }

  async #grantX11(): Promise<boolean> {
    const { principal, target } = this.#authed!;
    const d = this.ctx.policy().authorizeForwarding(principal, target.info, 'x11_forward');
    if (d.effect !== 'allow') {
      await this.#auditChannel('X11 forwarding', `refused: ${d.reason}`, d);
      return false;
    }
    if (!(await this.#auditChannel('X11 forwarding', 'allowed', d))) return false;
    this.#x11Grant = d;
    return true;
  }

  /** Once granted, X11 connections the target opens are bridged to the agent's display; each is audited first. */
  async #forwardX11(upstream: UpstreamClient, requested: Promise<X11Options | undefined>): Promise<X11Options | undefined> {
    const request = await requested;
    const grant = this.#x11Grant;
    if (!request || !grant) return undefined;
    if (!this.#x11Bridged) {
      this.#x11Bridged = true;
      upstream.on('x11', (info, accept, reject) => {
        void this.#auditChannel(`X11 forwarding: the target opened an X11 connection from ${info.srcIP}:${info.srcPort}`, 'allowed', grant).then((id) => {
          if (!id) return reject();
          this.conn.x11(info.srcIP, info.srcPort, (err, agentSide) => {
            if (err) return reject();
            const targetSide = accept();
            targetSide.pipe(agentSide).pipe(targetSide);
          });
        });
      });
    }
    return request;
  }

  #track(channel: ServerChannel): ServerChannel {
    this.#channels.add(channel);
    channel.once('close', () => this.#channels.delete(channel));
    return channel;
  }

  #refuseChannel(channel: ServerChannel, message: string, status = REFUSED_EXIT_STATUS): void {
    channel.stderr.write(`${message}\n`);
    channel.exit(status);
    channel.end();
  }

  async #directTcpip(accept: () => ServerChannel, reject: () => void, info: { destIP: string; destPort: number; srcIP: string; srcPort: number }): Promise<void> {
    const { principal, target } = this.#authed!;
    const d = this.ctx.policy().authorizePortForward(principal, target.info, info.destIP, info.destPort);
    const what = `port forwarding to ${info.destIP}:${info.destPort}`;
    if (d.effect !== 'allow') {
      await this.#auditChannel(what, `refused: ${d.reason}`, d);
      return reject();
    }
    try {
      // No audit, no forward.
      if (!(await this.#auditChannel(what, 'allowed', d))) return reject();
      const upstream = await this.#upstream!;
      upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
        if (err) return reject();
        const channel = accept();
        channel.pipe(up).pipe(channel);
      });
    } catch {
      reject();
    }
  }

  /**
   * `ssh -R`: policy sees the listening side on the target (`port_forward` with its bind address and
   * port); the grant is audited before the target listens, and so is every connection it carries.
   */
  async #remoteForward(info: { bindAddr: string; bindPort: number }, accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined): Promise<void> {
    const { principal, target } = this.#authed!;
    const d = this.ctx.policy().authorizePortForward(principal, target.info, info.bindAddr, info.bindPort);
    const what = `remote port forwarding from ${info.bindAddr}:${info.bindPort} on the target`;
    if (d.effect !== 'allow') {
      await this.#auditChannel(what, `refused: ${d.reason}`, d);
      return reject?.();
    }
    try {
      if (!(await this.#auditChannel(what, 'allowed', d))) return reject?.();
      const upstream = await this.#upstream!;
      this.#remoteForwards ??= new RemoteForwards(this.conn, upstream, (binding, from) =>
        this.#auditChannel(`remote port forwarding: the target accepted a connection on ${binding.bindAddr}:${binding.boundPort} from ${from.ip}:${from.port}`, 'allowed', d).then(Boolean),
      );
      const binding = await this.#remoteForwards.listen(info.bindAddr, info.bindPort);
      accept?.(info.bindPort === 0 ? binding.boundPort : undefined);
    } catch (err) {
      this.#log.info({ err: (err as Error).message }, 'remote port forwarding failed on the target');
      reject?.();
    }
  }

  async #cancelRemoteForward(info: { bindAddr: string; bindPort: number }, accept: (() => void) | undefined, reject: (() => void) | undefined): Promise<void> {
    const cancelled = (await this.#remoteForwards?.cancel(info.bindAddr, info.bindPort)) ?? false;
    void this.#auditChannel(`remote port forwarding from ${info.bindAddr}:${info.bindPort} on the target cancelled`, cancelled ? 'allowed' : 'refused: no such forwarding');
    if (cancelled) accept?.();
    else reject?.();
  }

  /** Channel-level requests (forwarding, shells, subsystems) are audited as statements of their own. */
  async #auditChannel(
    what: string,
    outcome: string,
    d?: { effect: 'allow' | 'deny' | 'approve'; policyIds: string[]; policyVersion: string; reason: string },
    held: { statementId?: string; approvalId?: string } = {},
  ): Promise<string | undefined> {
    const policy = this.ctx.policy();
    const decision = d ?? { effect: outcome === 'allowed' ? ('allow' as const) : ('deny' as const), policyIds: [], policyVersion: policy.version, reason: outcome };
    const statementId = held.statementId ?? `${this.sessionId}/${++this.#seq}`;
    const event = {
      type: 'statement' as const,
      sessionId: this.sessionId,
      statementId,
      text: what,
      class: 'privileged' as const,
      statementTypes: ['ssh.channel'],
      tables: [],
      functions: [],
      decision: { effect: decision.effect === 'allow' && outcome !== 'allowed' ? ('deny' as const) : decision.effect, policyIds: decision.policyIds, policyVersion: decision.policyVersion, reason: outcome },
      approvalId: held.approvalId,
    };
    if (outcome !== 'allowed') {
      await audit(this.ctx, event);
      return undefined;
    }
    // What is allowed goes ahead only once its event is appended.
    try {
      if (!this.ctx.audit.health().ok) return undefined;
      await this.ctx.audit.append(event);
      return statementId;
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'audit append failed');
      return undefined;
    }
  }

  #end(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#releaseLive?.();
    for (const abort of this.#aborts) abort('client disconnected');
    this.#upstream?.then((c) => c.end()).catch(() => undefined);
    if (!this.#started) return;
    void audit(this.ctx, {
      type: 'session.end',
      sessionId: this.sessionId,
      reason,
      statements: this.#stats.statements,
      bytesIn: this.#stats.bytesIn,
      bytesOut: this.#stats.bytesOut,
      durationMs: Date.now() - this.#stats.startedAt,
    });
    this.#log.info({ reason }, 'session ended');
  }
}
