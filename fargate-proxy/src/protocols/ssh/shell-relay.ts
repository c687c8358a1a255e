// Relays an interactive shell: the agent's keystrokes are assembled into lines, each line is
// inspected and decided like an exec command before any of it is sent, and everything the agent's
// terminal shows is recorded. Lines are decided one at a time, in order; while one waits (for the
// audit trail or a reviewer) later input queues behind it, bounded by pausing the agent's channel.
import type { ClientChannel, ServerChannel } from 'ssh2';
import { LineAssembler, type TypedInput } from '../../../../core/shell/line-input.js';
import type { Masker } from '../../../../core/mask/index.js';
import { decideCommand, type CommandScope } from './decide.js';
import type { AsciicastRecorder } from './asciicast.js';
import { LineMasker } from './mask-stream.js';

/** Input held while earlier lines are being decided before the agent's channel is paused. */
const MAX_QUEUED = 64;
/** A prompt has no newline: partial masked lines are released after this much quiet. */
const MASK_FLUSH_MS = 40;

export interface ShellRelayResult {
  exit?: { code: number | null; signal?: string };
  /** Bytes the agent's terminal received. */
  bytesOut: number;
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

  const drain = async () => {
    if (draining) return;
    draining = true;
    while (queue.length > 0 && !closed) {
      const item = queue.shift()!;
      if (item.kind === 'control') upstream.write(item.bytes);
      else if (item.kind === 'rejected') {
        result.linesRefused++;
        say(`airlock: refused: ${item.reason}; the line was not sent. Type the whole command and press Enter.`);
      } else if (item.text.trim() === '') upstream.write(item.terminator);
      else {
        const verdict = await decideCommand(o.scope, item.text, 'shell-line');
        if (closed) break;
        if (verdict.allowed) {
          result.linesAllowed++;
          upstream.write(item.text + item.terminator);
        } else {
          result.linesRefused++;
          say(`${verdict.message ?? 'airlock: refused'}; the line was not sent.`);
        }
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
    flushTimer = setTimeout(() => toAgent(masker.flush()), MASK_FLUSH_MS);
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
