// Relays an interactive shell: the agent's keystrokes are assembled into lines, the lines into the
// commands bash will run (a continuation, an open quote, a here-document or an unfinished compound
// command holds them), and each whole command is inspected and decided like an exec command before
// any of its lines is sent — and what is sent is the command as the gateway rebuilt it. Everything
// the agent's terminal shows is recorded. Commands are decided one at a time, in order; while one
// waits (for the audit trail or a reviewer) later input queues behind it, bounded by pausing the
// agent's channel.
import type { ClientChannel, ServerChannel } from 'ssh2';
import { LineAssembler, type TypedInput } from '../../../../core/shell/line-input.js';
import { CommandAssembler } from '../../../../core/shell/command-input.js';
import { SessionDefinitions } from '../../../../core/shell/session-definitions.js';
import type { ShellState } from '../../../../core/shell/inspect.js';
import { interactiveForm } from '../../../../core/shell/interactive-form.js';
import type { Masker } from '../../../../core/mask/index.js';
import { decideCommand, type CommandScope } from './decide.js';
import type { AsciicastRecorder } from './asciicast.js';
import { LineMasker } from './mask-stream.js';

/** Input held while earlier lines are being decided before the agent's channel is paused. */
const MAX_QUEUED = 64;
/**
 * A prompt has no newline: after this much quiet a partial line is released, all but a value that
 * may still be being written (a prompt ends in a blank and goes at once)...
 */
const MASK_FLUSH_MS = 40;
/** ...and that too after this much quiet (`read -p "Name:"`). */
const MASK_IDLE_MS = 1000;
/**
 * Shown while the gateway holds an unfinished command: bash's default PS2. Bash has not seen the
 * held lines, so it shows no prompt of its own until the command is whole and sent.
 */
const CONTINUATION_PROMPT = '> ';
/** Lines held for one unfinished command. */
const MAX_COMMAND_LINES = 256;

export interface ShellRelayResult {
  exit?: { code: number | null; signal?: string };
  /** Bytes the agent's terminal received. */
  bytesOut: number;
  /** Commands (one or more lines each) sent and refused. */
  linesAllowed: number;
  linesRefused: number;
  masked: number;
  /** Values masked per detector (`detector:<name>`). */
  maskCounts: Record<string, number>;
}

export interface ShellRelayOptions {
  scope: CommandScope;
  agent: ServerChannel;
  upstream: ClientChannel;
  recorder: AsciicastRecorder;
  maxLineBytes: number;
  masker?: Masker;
  onBytes(direction: 'in' | 'out', n: number): void;
}

export function relayShell(o: ShellRelayOptions): Promise<ShellRelayResult> {
  const { agent, upstream, recorder } = o;
  const result: ShellRelayResult = { bytesOut: 0, linesAllowed: 0, linesRefused: 0, masked: 0, maskCounts: {} };
  const assembler = new LineAssembler(o.maxLineBytes);
  const commands = new CommandAssembler({ maxBytes: o.maxLineBytes, maxLines: MAX_COMMAND_LINES });
  const definitions = new SessionDefinitions();
  const shell: ShellState = {};
  const queue: TypedInput[] = [];
  let draining = false;
  let closed = false;
  let inputEnded = false;

  const toAgent = (data: Buffer | string) => {
    if (closed || data.length === 0) return;
    recorder.output(data);
    result.bytesOut += data.length;
    o.onBytes('out', data.length);
    return agent.write(data);
  };
  /** Gateway messages: a terminal in raw mode needs CR LF. */
  const say = (line: string) => toAgent(`\r\n${line}\r\n`);

  const refused = (message: string, lines: number, hint = '') =>
    say(`${message}; ${lines > 1 ? `the command (${lines} lines) was` : 'the line was'} not sent.${hint}`);

  const decide = async (item: Extract<TypedInput, { kind: 'line' }>) => {
    try {
      await decideLine(item);
    } catch {
      // Text that exhausts the stack when its tree is walked (thousands of `|`): nothing of it
      // was sent, and the session goes on.
      const dropped = commands.discard().length;
      result.linesRefused++;
      refused('airlock: refused: the command is nested too deeply to be inspected', Math.max(dropped, 1));
    }
  };
  const decideLine = async (item: Extract<TypedInput, { kind: 'line' }>) => {
    if (commands.holding === 0 && item.text.trim() === '') return void upstream.write(item.terminator);
    const input = commands.add(item);
    // The prompt is for an agent waiting to type; lines already on their way need none (bash will
    // echo them with its own PS2 once the command is sent).
    if (input.kind === 'held') return void (queue.length === 0 && toAgent(CONTINUATION_PROMPT));
    if (input.kind === 'refused') {
      const verdict = await decideCommand(o.scope, input.text, 'shell-line', { unfollowable: input.reason });
      result.linesRefused++;
      return refused(verdict.message ?? 'airlock: refused', input.lines.length);
    }
    const verdict = await decideCommand(o.scope, input.text, 'shell-line', { opaque: definitions.uses(input.tree), shell });
    if (closed) return;
    if (!verdict.allowed) {
      result.linesRefused++;
      return refused(verdict.message ?? 'airlock: refused', input.lines.length);
    }
    // Bash is given the command as the gateway rebuilt it, not as typed (see interactive-form.ts).
    const form = interactiveForm(verdict.command, input.lines);
    if (!form.ok) {
      result.linesRefused++;
      return refused(`airlock: refused: ${form.reason}`, input.lines.length);
    }
    result.linesAllowed++;
    definitions.record(input.tree, verdict.command.class !== 'opaque');
    // The shell keeps its directory: after a `cd`, a relative path may land under /etc.
    if (verdict.command.binaries.includes('cd')) shell.movedDirectory = true;
    upstream.write(form.bytes);
  };

  const drain = async () => {
    if (draining) return;
    draining = true;
    while (queue.length > 0 && !closed) {
      const item = queue.shift()!;
      if (item.kind === 'line') {
        await decide(item);
        // Reading a held command again costs its whole text: let other sessions run in between.
        if (commands.holding > 0) await new Promise((r) => setImmediate(r));
      }
      else {
        // Bash never saw the held lines of an unfinished command: they go, whatever comes next.
        const dropped = commands.discard().length;
        if (item.kind === 'rejected') {
          result.linesRefused++;
          refused(`airlock: refused: ${item.reason}`, dropped + 1, ' Type the whole command and press Enter.');
        } else if (item.bytes[0] === 0x04 && dropped > 0) {
          // At PS2, bash takes end of input as "unexpected end of file" and discards the command; at
          // PS1 (where bash is, having seen nothing) it would end the shell.
          say(`airlock: end of input inside an unfinished command; its ${dropped} line(s) were discarded.`);
        } else upstream.write(item.bytes);
      }
      if (queue.length < MAX_QUEUED / 2) agent.resume();
    }
    draining = false;
    // The agent's EOF follows its last lines, which may still have been waiting for a decision.
    if (inputEnded && !closed) upstream.end();
  };

  agent.on('data', (chunk: Buffer) => {
    recorder.input(chunk);
    o.onBytes('in', chunk.length);
    queue.push(...assembler.push(chunk));
    if (queue.length >= MAX_QUEUED) agent.pause();
    void drain();
  });

  const masker = o.masker ? new LineMasker(o.masker) : undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  const fromUpstream = (chunk: Buffer) => {
    if (!masker) {
      if (toAgent(chunk) === false) {
        upstream.pause();
        agent.once('drain', () => upstream.resume());
      }
      return;
    }
    toAgent(masker.push(chunk));
    clearTimeout(flushTimer);
    flushTimer = setTimeout(() => {
      toAgent(masker.flush(false));
      if (masker.held > 0) flushTimer = setTimeout(() => toAgent(masker.flush()), MASK_IDLE_MS - MASK_FLUSH_MS);
    }, MASK_FLUSH_MS);
  };
  upstream.on('data', fromUpstream);
  upstream.stderr.on('data', fromUpstream);

  return new Promise((resolve) => {
    upstream.on('exit', (code: number | null, signal?: string) => (result.exit = { code, signal }));
    agent.on('end', () => {
      inputEnded = true;
      void drain();
    });
    agent.on('close', () => upstream.close());
    upstream.on('close', () => {
      clearTimeout(flushTimer);
      if (masker) toAgent(masker.flush());
      closed = true;
      result.masked = masker?.masked ?? 0;
      result.maskCounts = { ...masker?.counts };
      if (result.exit?.signal) agent.exit(result.exit.signal, false, '');
      else if (result.exit && result.exit.code !== null) agent.exit(result.exit.code);
      agent.end();
      resolve(result);
    });
  });
}
