// Turns a shell command line into simple commands (argv, redirects, pipes) using shell-quote's
// tokenizer. Whatever it cannot represent faithfully — command substitution, subshells, heredocs,
// multi-line scripts — is reported as opaque instead of guessed at: callers fail closed on it.
import { parse as tokenize, type ParseEntry } from 'shell-quote';

export interface Redirect {
  op: string;
  target: string;
}

export interface SimpleCommand {
  /** Words after leading `NAME=value` assignments; argv[0] is the program as written. */
  argv: string[];
  assignments: string[];
  redirects: Redirect[];
  /** Its standard input is the previous command's output (`a | b`). */
  pipedFrom?: SimpleCommand;
}

export interface ParsedShell {
  commands: SimpleCommand[];
  /** Why the line cannot be fully known statically; empty when it can. */
  opaque: string[];
}

/** Marks a parameter expansion inside a word: shell-quote calls back for `$NAME`, `${NAME}` and `$(`. */
const EXPANSION = '\u0001';
const SEPARATORS = new Set([';', '&&', '||', '&', ';;', '|', '|&']);
const REDIRECTS = new Set(['>', '>>', '<', '>&', '<&', '&>', '&>>', '>|', '<>']);
const OPAQUE_OPS: Record<string, string> = {
  '(': 'subshell or command substitution',
  ')': 'subshell or command substitution',
  '<(': 'process substitution',
  '>(': 'process substitution',
  '<<': 'here-document',
  '<<-': 'here-document',
  '<<<': 'here-string',
};

export function expandsVariable(word: string): boolean {
  return word.includes(EXPANSION);
}

/** The word as a reader would see it: expansions shown as `$NAME`. */
export function displayWord(word: string): string {
  return word.replace(/\u0001([^\u0001]*)\u0001/g, (_m, name: string) => (name ? `$${name}` : '$'));
}

export function parseShell(text: string): ParsedShell {
  const opaque: string[] = [];
  // shell-quote reads a newline as a blank: `ls\nrm -rf /` would look like one harmless command.
  if (/[\r\n]/.test(text.replace(/[\r\n]+$/, ''))) opaque.push('multi-line script');
  if (text.includes('\0') || text.includes(EXPANSION)) opaque.push('control characters in the command');
  let entries: ParseEntry[];
  try {
    entries = tokenize(text, (name) => `${EXPANSION}${name}${EXPANSION}`);
  } catch (err) {
    return { commands: [], opaque: [...opaque, `does not parse: ${(err as Error).message}`] };
  }

  const commands: SimpleCommand[] = [];
  let current: SimpleCommand = { argv: [], assignments: [], redirects: [] };
  const finish = (sep: string | undefined) => {
    if (current.argv.length || current.assignments.length || current.redirects.length) {
      commands.push(current);
      const prev = current;
      current = { argv: [], assignments: [], redirects: [] };
      if (sep === '|' || sep === '|&') current.pipedFrom = prev;
    }
  };

  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (typeof e === 'string') {
      if (e.includes('`')) opaque.push('backquote command substitution');
      if (e.includes(`${EXPANSION}${EXPANSION}`)) opaque.push('command substitution or arithmetic expansion');
      if (current.argv.length === 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) current.assignments.push(e);
      else current.argv.push(e);
      continue;
    }
    if ('comment' in e) continue;
    if (e.op === 'glob') {
      current.argv.push((e as { pattern: string }).pattern);
      continue;
    }
    const op = e.op;
    if (OPAQUE_OPS[op]) {
      opaque.push(OPAQUE_OPS[op]!);
      continue;
    }
    if (SEPARATORS.has(op)) {
      finish(op);
      continue;
    }
    if (REDIRECTS.has(op)) {
      // `2>` arrives as the word "2" then the operator: a lone file-descriptor number is not an argument.
      const last = current.argv[current.argv.length - 1];
      if (last !== undefined && /^\d$/.test(last) && current.argv.length > 1) current.argv.pop();
      const next = entries[i + 1];
      if (typeof next === 'string') {
        current.redirects.push({ op, target: next });
        i++;
      } else opaque.push(`redirect ${op} without a plain target`);
      continue;
    }
    opaque.push(`unsupported shell operator ${op}`);
  }
  finish(undefined);
  return { commands, opaque: [...new Set(opaque)] };
}
