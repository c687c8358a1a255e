// What an awk program can do beyond reading: `system()`, pipes to and from commands (`print |
// "cmd"`, `"cmd" | getline`, gawk's `|&`), output redirection in `print`/`printf` (`> "file"`), and
// gawk's `@load`/`@include`/indirect calls. The program is tokenized as awk does (strings, regular
// expression constants where an operand is expected, comments) and refused if any of these appear,
// or if it holds something awk implementations lex differently (a `/` inside a bracket expression).

export type AwkResult = { ok: true } | { ok: false; reason: string };

/** Tokens after which `/` is division, not the start of a regular expression. */
const OPERAND_END = /^([A-Za-z_][A-Za-z0-9_]*|[0-9.]+|\)|\]|"|\/re|\+\+|--)$/;
const KEYWORDS_BEFORE_REGEX = new Set(['print', 'printf', 'return', 'in', 'case', 'getline']);

export function analyzeAwk(program: string): AwkResult {
  if (/\bsystem\b/.test(program)) return { ok: false, reason: '`awk` with `system()` executes commands' };
  if (/\bgetline\b/.test(program)) return { ok: false, reason: '`awk` `getline` reads from commands or files the gateway cannot follow' };
  let prev = '';
  let depth = 0;
  /** Paren depth at which the current print/printf statement started, or -1 outside one. */
  let printDepth = -1;
  const s = program;
  for (let i = 0; i < s.length; ) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '\\' && s[i + 1] === '\n') {
      i += 2;
      continue;
    }
    if (c === '#') {
      while (i < s.length && s[i] !== '\n') i++;
      continue;
    }
    if (c === '\n' || c === ';' || c === '{' || c === '}') {
      printDepth = -1;
      prev = c;
      i++;
      continue;
    }
    if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\n') return { ok: false, reason: 'the `awk` program has an unterminated string' };
        i += s[i] === '\\' ? 2 : 1;
      }
      if (i >= s.length) return { ok: false, reason: 'the `awk` program has an unterminated string' };
      i++;
      prev = '"';
      continue;
    }
    if (c === '/' && !(OPERAND_END.test(prev) && !KEYWORDS_BEFORE_REGEX.has(prev))) {
      i++;
      let inBracket = false;
      for (;;) {
        const r = s[i];
        if (r === undefined || r === '\n') return { ok: false, reason: 'the `awk` program has an unterminated regular expression' };
        if (r === '\\') i += 2;
        else if (inBracket) {
          if (r === '/') return { ok: false, reason: 'the `awk` program has a `/` inside a bracket expression, which awk implementations read differently' };
          if (r === ']') inBracket = false;
          i++;
        } else if (r === '[') {
          inBracket = true;
          i++;
          if (s[i] === '^') i++;
          if (s[i] === ']') i++;
        } else if (r === '/') {
          i++;
          break;
        } else i++;
      }
      prev = '/re';
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
    if (word) {
      const w = word[0];
      if (w === 'print' || w === 'printf') printDepth = depth;
      prev = w;
      i += w.length;
      continue;
    }
    const num = /^[0-9.]+([eE][-+]?[0-9]+)?/.exec(s.slice(i));
    if (num) {
      prev = num[0].replace(/[eE].*/, '') || '0';
      i += num[0].length;
      continue;
    }
    if (c === '@') return { ok: false, reason: '`awk` with `@` (gawk extensions, includes or indirect calls) can run anything' };
    if (c === '|' && s[i + 1] !== '|') return { ok: false, reason: '`awk` with `|` pipes to or from a command' };
    if (c === '|') {
      prev = '||';
      i += 2;
      continue;
    }
    if (c === '>' && printDepth >= 0 && depth === printDepth) {
      return { ok: false, reason: '`awk` with `print >`/`printf >` writes files' };
    }
    if (c === '(' || c === '[') depth++;
    if (c === ')' || c === ']') depth--;
    const two = s.slice(i, i + 2);
    if (two === '++' || two === '--' || two === '&&' || two === '>=' || two === '<=' || two === '==' || two === '!=' || /^[-+*/%^]=$/.test(two)) {
      prev = two;
      i += 2;
      continue;
    }
    prev = c;
    i++;
  }
  return { ok: true };
}
