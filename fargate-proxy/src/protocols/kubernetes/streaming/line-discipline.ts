// The SSH shell's line discipline for an interactive exec or attach: the agent's stdin is assembled
// into lines (core/shell/line-input: the simple editing keys applied, anything the server's line
// editor would interpret refused), the lines into the commands bash will run (core/shell/
// command-input: continuations, open quotes, here-documents, compound commands are held until
// whole), and each whole command is decided before any of its lines is sent — and what is sent is
// the command as the gateway rebuilt it (core/shell/interactive-form.ts), as the SSH shell relay
// sends it, not the lines as typed. A refused command is not forwarded; the agent is told why and
// the session goes on. Commands are decided one at a time, in order; while one waits (the audit
// trail, a reviewer) later input queues behind it.
import { CommandAssembler } from '../../../../../core/shell/command-input.js';
import { LineAssembler, type TypedInput } from '../../../../../core/shell/line-input.js';
import { SessionDefinitions } from '../../../../../core/shell/session-definitions.js';
import { inspectCommand, type CommandInspection, type ShellState } from '../../../../../core/shell/index.js';
import { interactiveForm } from '../../../../../core/shell/interactive-form.js';

/** Input held while earlier lines are being decided before the agent's stream is paused. */
const MAX_QUEUED = 64;
const MAX_COMMAND_LINES = 256;

export interface LineVerdict {
  allowed: boolean;
  message?: string;
}

export interface LineDisciplineOptions {
  maxLineBytes: number;
  /** Whether the agent has a terminal: continuation prompts are shown only there. */
  tty: boolean;
  decide(command: CommandInspection, unfollowable?: string): Promise<LineVerdict>;
  /** Bytes for the upstream's stdin. */
  forward(bytes: Buffer): void;
  /** Tells the agent something (a refusal); one line. */
  say(message: string): void;
  /** Shows text on the agent's terminal as if the shell had (the PS2 prompt). */
  show(text: string): void;
  /** The agent's stdin ended and every line before it was handled. */
  ended(): void;
  pause(): void;
  resume(): void;
}

export interface LineCounts {
  allowed: number;
  refused: number;
}

export class LineDiscipline {
  readonly counts: LineCounts = { allowed: 0, refused: 0 };
  readonly #lines: LineAssembler;
  readonly #commands: CommandAssembler;
  readonly #definitions = new SessionDefinitions();
  /** What the shell keeps between commands (its working directory). */
  readonly #shell: ShellState = {};
  readonly #queue: TypedInput[] = [];
  #draining = false;
  #inputEnded = false;
  #closed = false;

  constructor(private readonly o: LineDisciplineOptions) {
    this.#lines = new LineAssembler(o.maxLineBytes);
    this.#commands = new CommandAssembler({ maxBytes: o.maxLineBytes, maxLines: MAX_COMMAND_LINES });
  }

  push(chunk: Buffer): void {
    this.#queue.push(...this.#lines.push(chunk));
    if (this.#queue.length >= MAX_QUEUED) this.o.pause();
    void this.#drain();
  }

  /** End of the agent's stdin (v5 close signal): handled after the lines before it. */
  end(): void {
    this.#inputEnded = true;
    void this.#drain();
  }

  /** The session is over: nothing more is decided or forwarded. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
  }

  #refused(message: string, lines: number, hint = ''): void {
    this.counts.refused++;
    this.o.say(`${message}; ${lines > 1 ? `the command (${lines} lines) was` : 'the line was'} not sent.${hint}`);
  }

  async #decide(item: Extract<TypedInput, { kind: 'line' }>): Promise<void> {
    try {
      await this.#decideLine(item);
    } catch {
      // Text that exhausts the stack when its tree is walked (thousands of `|`): nothing of it was
      // sent, and the session goes on (a throw here would be an unhandled rejection).
      const dropped = this.#commands.discard().length;
      this.#refused('airlock: refused: the command is nested too deeply to be inspected', Math.max(dropped, 1));
    }
  }

  async #decideLine(item: Extract<TypedInput, { kind: 'line' }>): Promise<void> {
    const commands = this.#commands;
    if (commands.holding === 0 && item.text.trim() === '') return this.o.forward(Buffer.from(item.terminator));
    const input = commands.add(item);
    if (input.kind === 'held') {
      if (this.o.tty && this.#queue.length === 0) this.o.show('> ');
      return;
    }
    if (input.kind === 'refused') {
      const verdict = await this.o.decide(inspectCommand(input.text), input.reason);
      return this.#refused(verdict.message ?? 'airlock: refused', input.lines.length);
    }
    let command = inspectCommand(input.text, this.#shell);
    const opaque = this.#definitions.uses(input.tree);
    if (opaque.length) command = { ...command, class: 'opaque', reasons: [...command.reasons, ...opaque] };
    const verdict = await this.o.decide(command);
    if (this.#closed) return;
    if (!verdict.allowed) return this.#refused(verdict.message ?? 'airlock: refused', input.lines.length);
    // The shell is given the command as the gateway rebuilt it, not as typed.
    const form = interactiveForm(command, input.lines);
    if (!form.ok) return this.#refused(`airlock: refused: ${form.reason}`, input.lines.length);
    this.counts.allowed++;
    this.#definitions.record(input.tree, command.class !== 'opaque');
    // The shell keeps its directory: after a `cd`, a relative path may land under /etc.
    if (command.binaries.includes('cd')) this.#shell.movedDirectory = true;
    this.o.forward(Buffer.from(form.bytes, 'utf8'));
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    while (this.#queue.length > 0 && !this.#closed) {
      const item = this.#queue.shift()!;
      if (item.kind === 'line') {
        await this.#decide(item);
        // Reading a held command again costs its whole text: let other sessions run in between.
        if (this.#commands.holding > 0) await new Promise((r) => setImmediate(r));
      } else {
        // The shell never saw the held lines of an unfinished command: they go, whatever comes next.
        const dropped = this.#commands.discard().length;
        if (item.kind === 'rejected') this.#refused(`airlock: refused: ${item.reason}`, dropped + 1, ' Type the whole command and press Enter.');
        else if (item.bytes[0] === 0x04 && dropped > 0) this.o.say(`airlock: end of input inside an unfinished command; its ${dropped} line(s) were discarded.`);
        else this.o.forward(item.bytes);
      }
      if (this.#queue.length < MAX_QUEUED / 2) this.o.resume();
    }
    this.#draining = false;
    if (this.#inputEnded && !this.#closed && this.#queue.length === 0) {
      this.#closed = true;
      this.o.ended();
    }
  }
}
