// One exec or attach, after the agent's WebSocket is upgraded: the command (or the attach) is
// decided first — the agent's socket stays open meanwhile, so a reviewer can take their time and a
// refusal arrives in-protocol as a Status on the error channel (a refused upgrade would make
// kubectl retry the same request over SPDY). Then the gateway's own upstream socket, and the relay:
// stdin decided line by line in an interactive session, passed as data otherwise; stdout and stderr
// scrubbed of the credential, masked and recorded (asciicast, as SSH shells are); the final Status
// passed on; the outcome audited with the recording's hash.
import { join } from 'node:path';
import WebSocket, { type RawData } from 'ws';
import { AsciicastRecorder } from '../../ssh/asciicast.js';
import { scrubText } from '../../http/credential.js';
import { agentSocket, toBuffer } from './agent-socket.js';
import * as ch from './channel.js';
import type { StreamingContext } from './contract.js';
import { commandAsk, decideStreaming, execContext } from './decide.js';
import { judgeExecCommand } from './exec-command.js';
import { LineDiscipline } from './line-discipline.js';
import { OutputChannel } from './output.js';
import { execQuery, subresourcePath, type ExecParams } from './request.js';
import { openUpstream, pace, sendable, type Upstream } from './upstream.js';

/** `<recordingsDir>/<sessionId>/<n>.cast`, as the SSH engine names its recordings. */
export function recordingFile(dir: string, sessionId: string, statementId: string): string {
  const own = statementId.startsWith(sessionId) ? statementId.slice(sessionId.length).replace(/^[/:]/, '') : statementId;
  return join(dir, sessionId, `${own.replace(/[^A-Za-z0-9._-]/g, '_')}.cast`);
}

export async function runExec(ctx: StreamingContext, agent: WebSocket, protocol: string, subresource: 'exec' | 'attach', p: ExecParams): Promise<void> {
  const started = Date.now();
  const sock = agentSocket(ctx, agent);
  const send = sock.send;
  const endWith = (status: ch.Status) => {
    send(ch.ERROR, JSON.stringify(status));
    if (agent.readyState === WebSocket.OPEN) agent.close(1000);
  };
  // Gateway messages go where the agent reads errors: stderr when it asked for it, else its terminal.
  let recorder: AsciicastRecorder | undefined;
  const tell = (line: string) => {
    const text = p.tty ? `\r\n${line}\r\n` : `${line}\n`;
    recorder?.output(text);
    send(p.stderr ? ch.STDERR : ch.STDOUT, text);
  };

  // --- the opening decision ---
  const cmd = subresource === 'exec' ? judgeExecCommand(p.command, p.stdin) : undefined;
  const interactive = cmd ? cmd.input === 'shell' : p.stdin;
  const waiting = { notify: tell, signal: sock.closed };
  const opening = cmd
    ? await decideStreaming(ctx, { ...commandAsk(ctx, subresource, p, cmd.input, cmd.inspection, waiting), unforwardable: cmd.unforwardable })
    : await decideStreaming(ctx, {
        text: `attach to ${ctx.attributes.namespace}/${ctx.attributes.name}${p.container ? ` container ${p.container}` : ''}${p.stdin ? ' with stdin' : ''}`,
        class: p.stdin ? 'write' : 'read',
        reasons: [],
        request: { action: 'k8s_exec', context: execContext(ctx, 'attach', p, 'attach'), shape: `k8s-attach:${ctx.attributes.namespace}/${ctx.attributes.name}/${p.container}/${p.stdin}` },
        types: ['k8s.attach'],
        functions: [],
        tables: [],
        waiting,
      });
  if (sock.closed.aborted) return;
  if (!opening.allowed) return endWith(ch.failure(403, 'Forbidden', opening.message ?? 'airlock: refused'));

  // --- upstream ---
  const forward = cmd ? cmd.forward ?? p.command : [];
  let up: Upstream;
  try {
    up = await openUpstream(ctx.upstream, subresourcePath(ctx.attributes.namespace, ctx.attributes.name, subresource), execQuery(p, forward), protocol, ctx.requestId);
  } catch (err) {
    const message = (err as Error).message;
    outcome(ctx, opening.statementId, started, { status: 'error', bytes: 0, error: { code: 'upstream_unreachable', message } });
    return endWith(ch.failure(502, 'InternalError', `airlock: ${message}`));
  }
  const upstream = up.socket;
  if (sock.closed.aborted) return void upstream.terminate();

  const file = ctx.recordingsDir ? recordingFile(ctx.recordingsDir, ctx.audit.sessionId, opening.statementId) : undefined;
  const rec = new AsciicastRecorder({ width: 80, height: 24, title: `${ctx.principal.id} on ${ctx.target.name}: ${subresource} ${ctx.attributes.namespace}/${ctx.attributes.name}` }, file);
  recorder = rec;
  let bytesOut = 0;
  const output = (channel: number) =>
    new OutputChannel(ctx.upstream.revealing, ctx.masker, (data) => {
      rec.output(data);
      bytesOut += data.length;
      send(channel, data);
    });
  const stdout = output(ch.STDOUT);
  const stderr = output(ch.STDERR);
  const toUpstream = (channel: number, data: Buffer) => {
    if (upstream.readyState === WebSocket.OPEN) upstream.send(ch.frame(channel, data));
  };
  const closeStdin = () => {
    // Only v5 can say "stdin ended" without ending the whole exchange.
    if (protocol === ch.V5) toUpstream(ch.CLOSE, Buffer.from([ch.STDIN]));
  };

  const lines = interactive
    ? new LineDiscipline({
        maxLineBytes: ctx.maxLineBytes ?? 16 * 1024,
        tty: p.tty,
        decide: async (command, unfollowable) => {
          const d = await decideStreaming(ctx, commandAsk(ctx, subresource, p, 'line', command, waiting, unfollowable));
          return { allowed: d.allowed, message: d.message };
        },
        forward: (bytes) => toUpstream(ch.STDIN, bytes),
        say: tell,
        show: (text) => {
          rec.output(text);
          send(ch.STDOUT, text);
        },
        ended: closeStdin,
        pause: () => agent.pause(),
        resume: () => agent.resume(),
      })
    : undefined;

  sock.deliverTo((m: Buffer) => {
    const f = ch.parseFrame(m);
    if (!f) return;
    if (f.channel === ch.STDIN) {
      rec.input(f.data);
      if (lines) lines.push(f.data);
      else toUpstream(ch.STDIN, f.data);
    } else if (f.channel === ch.RESIZE) {
      const size = ch.parseResize(f.data);
      if (!size) return;
      rec.resize(size.width, size.height);
      toUpstream(ch.RESIZE, Buffer.from(JSON.stringify({ Width: size.width, Height: size.height })));
    } else if (f.channel === ch.CLOSE && protocol === ch.V5 && f.data[0] === ch.STDIN) {
      if (lines) lines.end();
      else closeStdin();
    }
    // Channels 1-3 are the server's; anything else is no channel of the protocol: dropped.
  });
  pace(upstream, agent);
  pace(agent, upstream);

  let status: Partial<ch.Status> | undefined;
  up.onMessage((data: RawData, isBinary: boolean) => {
    if (!isBinary) return;
    const f = ch.parseFrame(toBuffer(data));
    if (!f) return;
    if (f.channel === ch.STDOUT) stdout.push(f.data);
    else if (f.channel === ch.STDERR) stderr.push(f.data);
    else if (f.channel === ch.ERROR) {
      // The Status is the exchange's last word: the output before it goes first, whole.
      stdout.end();
      stderr.end();
      const text = scrubText(f.data.toString('utf8'), ctx.upstream.revealing);
      try {
        status = JSON.parse(text) as Partial<ch.Status>;
      } catch {
        status = { status: 'Failure', message: text };
      }
      send(ch.ERROR, text);
    }
  });

  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      lines?.close();
      stdout.end();
      stderr.end();
      resolve();
    };
    upstream.on('close', (code, reason) => {
      finish();
      if (agent.readyState === WebSocket.OPEN) agent.close(sendable(code), scrubText(reason.toString(), ctx.upstream.revealing));
    });
    agent.on('close', (code) => {
      finish();
      if (upstream.readyState === WebSocket.OPEN) upstream.close(sendable(code));
      else upstream.terminate();
    });
    upstream.on('error', () => agent.terminate());
  });

  const { capture, fileError } = await rec.finish();
  if (fileError) ctx.log?.error({ err: fileError }, 'exec recording file could not be written');
  const exit = status ? ch.exitCodeOf(status) : undefined;
  const m1 = stdout.masked;
  const m2 = stderr.masked;
  const counts: Record<string, number> = { ...m1.counts };
  for (const [k, v] of Object.entries(m2.counts)) counts[k] = (counts[k] ?? 0) + v;
  outcome(ctx, opening.statementId, started, {
    status: exit === 0 ? 'ok' : 'error',
    bytes: bytesOut,
    ...(lines && { rows: lines.counts.allowed }),
    ...(exit !== 0 && {
      error: {
        code: exit === undefined ? (status ? String(status.reason ?? 'Failure') : 'no_status') : `exit ${exit}`,
        message: `${status?.message ?? 'the stream ended without a status'}${lines ? ` (${lines.counts.refused} line(s) refused)` : ''}`.slice(0, 500),
      },
    }),
    ...(ctx.masker && { masking: { counts, total: m1.total + m2.total } }),
    response: capture,
  });
}

function outcome(
  ctx: StreamingContext,
  statementId: string,
  started: number,
  o: { status: 'ok' | 'error'; bytes: number; rows?: number; error?: { code: string; message: string }; masking?: { counts: Record<string, number>; total: number }; response?: import('../../../../../core/audit/events.js').CapturedResponse },
): void {
  const event = { type: 'statement.outcome' as const, sessionId: ctx.audit.sessionId, statementId, durationMs: Date.now() - started, ...o };
  try {
    if (ctx.audit.sink.appendDeferred) ctx.audit.sink.appendDeferred(event);
    else void ctx.audit.sink.append(event).catch((err: Error) => ctx.log?.error({ err: err.message }, 'audit of a streaming outcome failed'));
  } catch (err) {
    ctx.log?.error({ err: (err as Error).message }, 'audit of a streaming outcome failed');
  }
}

export { outcome as appendOutcome };
