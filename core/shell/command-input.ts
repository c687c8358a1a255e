// Turns typed lines into the commands bash will run. Bash does not run a line, it runs a command:
// a backslash at the end of a line, an open quote, a here-document or an unfinished `if`/`for`/
// `{`/`(`/function makes it read more lines (showing PS2) before anything runs. The gateway reads
// the lines the same way, with the same grammar (mvdan/sh's bash parser), holds them until the
// command is whole, and only then has it decided and sent — all of it, or none of it. Bash therefore
// never holds a partial command the gateway did not see whole.
//
// Input bash would rewrite before parsing it (history expansion: `!!`, `!$`, `^old^new`) or text
// the grammar rejects cannot be followed: it is refused whole and bash never sees any of it, so
// the two stay in step.
import { readBash, TOO_DEEP, type Awaited, type BashTree } from './bash-syntax.js';

export interface TypedLine {
  text: string;
  /** The line end as typed (CR, LF): forwarded unchanged. */
  terminator: string;
}

export type CommandInput =
  /** More lines are needed before bash would run anything (bash would show PS2). */
  | { kind: 'held'; lines: number }
  /** A whole command: decide `text`; if allowed, forward `lines` (each with its terminator). */
  | { kind: 'command'; text: string; lines: TypedLine[]; tree: BashTree }
  /** Text the gateway cannot follow bash through: refuse it whole; forward none of `lines`. */
  | { kind: 'refused'; text: string; lines: TypedLine[]; reason: string };

export interface CommandLimits {
  /** Bytes held for one command (parsing is repeated per line: this also bounds the work per line). */
  maxBytes: number;
  maxLines: number;
}

export const DEFAULT_COMMAND_LIMITS: CommandLimits = { maxBytes: 16 * 1024, maxLines: 256 };

export class CommandAssembler {
  #held: TypedLine[] = [];
  #bytes = 0;
  /** What the held text waits for, when known: lines that cannot supply it are held unparsed. */
  #awaits: Awaited | undefined;

  constructor(private readonly limits: CommandLimits = DEFAULT_COMMAND_LIMITS) {}

  /** Lines held for an unfinished command. */
  get holding(): number {
    return this.#held.length;
  }

  /** Drops an unfinished command (^C, ^D, a line the gateway could not read): bash never saw it. */
  discard(): TypedLine[] {
    const lines = this.#held;
    this.#held = [];
    this.#bytes = 0;
    this.#awaits = undefined;
    return lines;
  }

  add(line: TypedLine): CommandInput {
    this.#held.push(line);
    this.#bytes += Buffer.byteLength(line.text) + 1;
    const text = this.#held.map((l) => l.text).join('\n');
    if (this.#bytes > this.limits.maxBytes || this.#held.length > this.limits.maxLines) {
      return this.#refuse(text, `the command is longer than ${this.limits.maxBytes} bytes or ${this.limits.maxLines} lines`);
    }
    // Parsing again per line costs the whole text: skip it where the line cannot change what is open
    // (a pasted here-document or quoted block is then read once, not once per line). Inside a
    // here-document or double quotes only `$`, a backquote or a backslash starts something new.
    const awaits = this.#awaits;
    const plain = !/[$`\\]/.test(line.text);
    if (awaits && ('heredoc' in awaits ? plain && line.text.replace(/^\t+/, '') !== awaits.heredoc : (awaits.quote === "'" || plain) && !line.text.includes(awaits.quote))) {
      return { kind: 'held', lines: this.#held.length };
    }
    const read = readBash(`${text}\n`);
    if (read.state === 'incomplete') {
      this.#awaits = read.awaits;
      return { kind: 'held', lines: this.#held.length };
    }
    if (read.state === 'error') return this.#refuse(text, `bash would not accept it (${read.message})`);
    let expansion: string | undefined;
    try {
      expansion = historyExpansion(text, read.tree);
    } catch {
      return this.#refuse(text, TOO_DEEP); // walking the tree exhausted the stack
    }
    if (expansion) return this.#refuse(text, expansion);
    return { kind: 'command', text, lines: this.discard(), tree: read.tree };
  }

  #refuse(text: string, reason: string): CommandInput {
    return { kind: 'refused', text, lines: this.discard(), reason };
  }
}

/**
 * An interactive bash expands `!…` (and a line starting with `^`) from its history before it parses
 * the line, so what runs would not be what was inspected. Bash leaves `!` alone before a blank, `=`
 * or the end of the line, after a backslash, inside single quotes, and in `$!` and `${!`; anything
 * else is refused (including cases bash would leave alone in double quotes: the rule stays simple).
 */
export function historyExpansion(text: string, tree: BashTree): string | undefined {
  const bytes = Buffer.from(`${text}\n`, 'utf8');
  const quoted = tree.singleQuoted();
  let lineStart = true;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (lineStart && c === 0x5e /* ^ */) return 'a line starting with ^ is a history substitution in bash (^old^new)';
    lineStart = c === 0x0a;
    if (c !== 0x21 /* ! */) continue;
    const next = bytes[i + 1] ?? 0x0a;
    if ([0x20, 0x09, 0x0a, 0x0d, 0x3d].includes(next)) continue;
    let backslashes = 0;
    while (i - 1 - backslashes >= 0 && bytes[i - 1 - backslashes] === 0x5c) backslashes++;
    if (backslashes % 2 === 1) continue;
    if (bytes[i - 1] === 0x24 /* $! */ || (bytes[i - 1] === 0x7b && bytes[i - 2] === 0x24) /* ${! */) continue;
    if (quoted.some(([start, end]) => start < i && i < end)) continue;
    const shown = bytes.subarray(i, Math.min(bytes.length, i + 12)).toString('utf8').split(/[\s'"]/)[0];
    return `bash would replace ${shown} from its history (history expansion) after inspection`;
  }
  return undefined;
}
