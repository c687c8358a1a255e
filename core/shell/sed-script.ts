// What a sed script can do beyond reading its input: GNU sed's `e` command and `s///e` flag run
// shell commands, `w`/`W` and `s///w` write files. The script is parsed the way GNU sed parses it
// (addresses, any `s` delimiter, bracket expressions, `a`/`i`/`c` text, labels); a script this
// parser does not fully understand is refused, never skimmed for keywords.

export interface SedEffects {
  /** Why the script executes commands, if it does. */
  executes?: string;
  /** Files the script writes. */
  writes: string[];
  /** Files the script reads (`r`, `R`). */
  reads: string[];
}

export type SedResult = { ok: true; effects: SedEffects } | { ok: false; reason: string };

const SIMPLE = new Set(['=', 'd', 'D', 'g', 'G', 'h', 'H', 'n', 'N', 'p', 'P', 'x', 'z', 'F']);

class Cursor {
  i = 0;
  constructor(readonly s: string) {}
  get c(): string | undefined {
    return this.s[this.i];
  }
  eof(): boolean {
    return this.i >= this.s.length;
  }
  skipBlanks(): void {
    while (this.c === ' ' || this.c === '\t') this.i++;
  }
  /** The rest of the line (GNU reads file names, labels and text this way). */
  restOfLine(): string {
    const end = this.s.indexOf('\n', this.i);
    const text = this.s.slice(this.i, end < 0 ? undefined : end);
    this.i = end < 0 ? this.s.length : end;
    return text;
  }
}

class SedError extends Error {}

export function analyzeSed(script: string): SedResult {
  const effects: SedEffects = { writes: [], reads: [] };
  try {
    const cur = new Cursor(script);
    let depth = 0;
    for (;;) {
      while (!cur.eof() && /[\s;]/.test(cur.c!)) cur.i++;
      if (cur.eof()) break;
      if (cur.c === '#') {
        cur.restOfLine();
        continue;
      }
      address(cur);
      cur.skipBlanks();
      if (cur.c === ',') {
        cur.i++;
        cur.skipBlanks();
        const step = cur.c as string | undefined;
        if (step === '+' || step === '~') {
          cur.i++;
          digits(cur, true);
        } else address(cur, true);
        cur.skipBlanks();
      }
      while (cur.c === '!') {
        cur.i++;
        cur.skipBlanks();
      }
      const cmd = cur.c;
      if (cmd === undefined) throw new SedError('an address without a command');
      cur.i++;
      if (cmd === '{') {
        depth++;
        continue;
      }
      if (cmd === '}') {
        if (--depth < 0) throw new SedError('an unmatched `}`');
      } else if (SIMPLE.has(cmd)) {
        // no argument
      } else if (cmd === 'q' || cmd === 'Q' || cmd === 'l' || cmd === 'L') {
        cur.skipBlanks();
        digits(cur, false);
      } else if (cmd === ':' || cmd === 'b' || cmd === 't' || cmd === 'T' || cmd === 'v') {
        // Labels end at `;` or a newline in GNU sed; stopping early here (also at `}`) can only
        // make the gateway read more commands than sed does, never fewer.
        cur.skipBlanks();
        const label = /^[^;\n}]*/.exec(cur.s.slice(cur.i))![0];
        if (cmd === ':' && label.trim() === '') throw new SedError('`:` without a label');
        cur.i += label.length;
      } else if (cmd === 'a' || cmd === 'i' || cmd === 'c') {
        text(cur);
      } else if (cmd === 'r' || cmd === 'R') {
        effects.reads.push(fileName(cur, cmd));
      } else if (cmd === 'w' || cmd === 'W') {
        effects.writes.push(fileName(cur, cmd));
      } else if (cmd === 'e') {
        effects.executes = '`sed` with the `e` command executes commands';
        cur.restOfLine();
      } else if (cmd === 's') {
        substitute(cur, effects);
      } else if (cmd === 'y') {
        const delim = delimiter(cur, 'y');
        part(cur, delim, false);
        part(cur, delim, false);
      } else throw new SedError(`the sed command \`${cmd}\` is not one the gateway knows`);
      endOfCommand(cur);
    }
    if (depth !== 0) throw new SedError('an unclosed `{`');
  } catch (err) {
    if (err instanceof SedError) return { ok: false, reason: `the \`sed\` script cannot be vouched for: ${err.message}` };
    throw err;
  }
  return { ok: true, effects };
}

function address(cur: Cursor, second = false): void {
  const c = cur.c;
  if (c === undefined) return;
  if (/[0-9]/.test(c)) {
    digits(cur, true);
    if (cur.c === '~') {
      cur.i++;
      digits(cur, true);
    }
  } else if (c === '$') cur.i++;
  else if (c === '/' || c === '\\') {
    let delim = '/';
    cur.i++;
    if (c === '\\') {
      delim = cur.c ?? '';
      if (delim === '' || delim === '\n' || delim === '\\') throw new SedError('a bad address delimiter');
      cur.i++;
    }
    part(cur, delim, true);
    while (cur.c === 'I' || cur.c === 'M') cur.i++;
  } else if (second) throw new SedError('a bad second address');
}

function digits(cur: Cursor, required: boolean): void {
  const start = cur.i;
  while (cur.c !== undefined && /[0-9]/.test(cur.c)) cur.i++;
  if (required && cur.i === start) throw new SedError('a number was expected');
}

function delimiter(cur: Cursor, cmd: string): string {
  const d = cur.c;
  if (d === undefined || d === '\n' || d === '\\') throw new SedError(`\`${cmd}\` without a delimiter`);
  cur.i++;
  return d;
}

/** One delimited part (regex or replacement); bracket expressions only count in a regex. */
function part(cur: Cursor, delim: string, regex: boolean): void {
  for (;;) {
    const c = cur.c;
    if (c === undefined) throw new SedError(`an unterminated \`${delim}\` part`);
    cur.i++;
    if (c === delim) return;
    if (c === '\\') {
      if (cur.eof()) throw new SedError('a trailing backslash');
      cur.i++;
    } else if (c === '[' && regex) bracket(cur);
    else if (c === '\n' && regex) throw new SedError('a newline inside a regular expression');
  }
}

function bracket(cur: Cursor): void {
  if (cur.c === '^') cur.i++;
  if (cur.c === ']') cur.i++;
  for (;;) {
    const c = cur.c;
    if (c === undefined || c === '\n') throw new SedError('an unterminated `[`');
    cur.i++;
    if (c === ']') return;
    if (c === '[' && (cur.c === ':' || cur.c === '.' || cur.c === '=')) {
      const close = `${cur.c}]`;
      const end = cur.s.indexOf(close, cur.i + 1);
      if (end < 0) throw new SedError('an unterminated character class');
      cur.i = end + 2;
    }
  }
}

function substitute(cur: Cursor, effects: SedEffects): void {
  const delim = delimiter(cur, 's');
  part(cur, delim, true);
  part(cur, delim, false);
  for (;;) {
    const c = cur.c;
    if (c === undefined) return;
    if (c === 'e') {
      effects.executes = '`sed` with the `e` flag executes commands';
      cur.i++;
    } else if (c === 'w') {
      cur.i++;
      effects.writes.push(fileName(cur, 's///w'));
      return;
    } else if (/[gpiImM0-9]/.test(c)) cur.i++;
    else return;
  }
}

function fileName(cur: Cursor, cmd: string): string {
  cur.skipBlanks();
  const name = cur.restOfLine();
  if (name === '') throw new SedError(`\`${cmd}\` without a file name`);
  return name;
}

/** `a`, `i`, `c`: GNU one-line text or `\`-continued lines; it is only ever printed. */
function text(cur: Cursor): void {
  for (;;) {
    const line = cur.restOfLine();
    let backslashes = 0;
    for (let k = line.length - 1; k >= 0 && line[k] === '\\'; k--) backslashes++;
    if (backslashes % 2 === 1 && !cur.eof()) {
      cur.i++; // the newline the backslash escapes
      continue;
    }
    return;
  }
}

function endOfCommand(cur: Cursor): void {
  cur.skipBlanks();
  const c = cur.c;
  if (c === undefined || c === ';' || c === '\n' || c === '}' || c === '#') return;
  throw new SedError(`unexpected \`${c}\` after a command`);
}
