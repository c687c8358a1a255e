// Shell words as values the gateway can vouch for. A word is accepted only when its value is
// known before it runs — literals and quotes, plus two expansions whose result cannot surprise
// the classifier (a `*`/`?` pattern that cannot expand to an option, a leading `~` for $HOME).
// Anything computed on the target (parameters, substitutions, arithmetic, brace lists) is refused.
// Each accepted word is also written back in canonical POSIX quoting for the command the target runs.
import { nodeType, type DblQuoted, type Lit, type Node, type ParamExp, type SglQuoted, type Word } from './syntax.js';

export interface StaticWord {
  /** The word after quote removal, with any pattern or tilde left as written. */
  value: string;
  /** The word as POSIX sh must read it to see exactly `value` (patterns and tilde still live). */
  shell: string;
  /** Holds `*` or `?` that the target expands into file names. */
  pattern: boolean;
  /** Starts with `~` (the target's $HOME). */
  tilde: boolean;
  /** Holds simple parameter expansions (`$NAME`, `${NAME}`, `$?`), when they were allowed. */
  params: boolean;
  /** Starts with a pattern, so the target may expand it to a name that begins with `-`. */
  leadingPattern?: boolean;
  /** Holds a loop variable (its value is one the gateway judged; `shell` still names the variable). */
  bound?: boolean;
}

/** Loop variables in scope: each name's value for the pass being judged. */
export type Bindings = ReadonlyMap<string, StaticWord>;

export type WordResult = { ok: true; word: StaticWord } | { ok: false; reason: string };

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;
const RESERVED = new Set(['if', 'then', 'else', 'elif', 'fi', 'case', 'esac', 'for', 'while', 'until', 'do', 'done', 'in', 'function', 'select', 'time', 'coproc', '{', '}', '!', '[[', ']]']);

/** Single-quotes `text` unless every character is one sh reads literally. */
export function quote(text: string): string {
  if (text !== '' && SAFE.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A program name: also quoted when sh would read it as a reserved word or an assignment. */
export function quoteProgram(text: string): string {
  return RESERVED.has(text) || text.includes('=') ? `'${text.replace(/'/g, `'\\''`)}'` : quote(text);
}

const EXPANSION_REASONS: Record<string, string> = {
  ParamExp: 'is expanded on the target, where the gateway cannot know its value',
  CmdSubst: 'runs a command substitution',
  ArithmExp: 'holds arithmetic expansion',
  ProcSubst: 'holds process substitution',
  ExtGlob: 'holds an extended glob pattern',
  BraceExp: 'holds brace expansion',
};

class WordBuilder {
  value = '';
  shell = '';
  #literal = '';
  pattern = false;
  tilde = false;
  params = false;
  leadingPattern = false;
  bound = false;

  literal(text: string): void {
    this.value += text;
    this.#literal += text;
  }
  live(text: string, value = text): void {
    if (this.value === '' && /^[*?]/.test(value) && this.pattern) this.leadingPattern = true;
    this.flush();
    this.value += value;
    this.shell += text;
  }
  flush(): void {
    if (this.#literal) this.shell += quote(this.#literal);
    this.#literal = '';
  }
  done(): StaticWord {
    this.flush();
    if (this.shell === '') this.shell = "''";
    const word: StaticWord = { value: this.value, shell: this.shell, pattern: this.pattern, tilde: this.tilde, params: this.params };
    if (this.leadingPattern) word.leadingPattern = true;
    if (this.bound) word.bound = true;
    return word;
  }
}

/**
 * The word's value and canonical form, or why it cannot be known before it runs. `params`: accept
 * simple parameter expansions (for `echo`, whose arguments are only ever printed); their value
 * is left to the target, so the word's `value` shows them as written. `bound`: loop variables,
 * whose uses take the value being judged (the target expands the same variable to that value).
 */
export function staticWord(word: Word, params = false, bound?: Bindings): WordResult {
  const b = new WordBuilder();
  const parts = word.Parts;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    const type = nodeType(part);
    if (type === 'Lit') {
      const reason = unquoted((part as Lit).Value, b, p === 0, parts.length === 1);
      if (reason) return { ok: false, reason };
    } else if (type === 'SglQuoted') {
      const q = part as SglQuoted;
      if (q.Dollar) return { ok: false, reason: "holds $'…' escapes" };
      b.literal(q.Value);
    } else if (type === 'DblQuoted') {
      const q = part as DblQuoted;
      if (q.Dollar) return { ok: false, reason: 'holds a $"…" locale string' };
      for (const inner of q.Parts) {
        const t = nodeType(inner);
        const loop = t === 'ParamExp' ? boundParam(inner as ParamExp, bound) : undefined;
        const name = t === 'ParamExp' && params ? simpleParam(inner as ParamExp) : undefined;
        if (loop) useBinding(b, loop);
        else if (name !== undefined) {
          b.params = true;
          b.live(`"\${${name}}"`, `$${name}`);
        } else if (t !== 'Lit') return { ok: false, reason: EXPANSION_REASONS[t] ?? `holds ${t}` };
        else b.literal(unescapeDouble((inner as Lit).Value));
      }
    } else {
      const loop = type === 'ParamExp' ? boundParam(part as ParamExp, bound) : undefined;
      if (loop) {
        // Unquoted, bash splits the value into words and expands patterns in it: only a value it
        // leaves whole is the value judged.
        if (loop.value.pattern || loop.value.value === '' || /[\s*?[\]\\]/.test(loop.value.value)) {
          return { ok: false, reason: `uses the loop variable \`$${loop.name}\` unquoted, where bash may split or expand its value` };
        }
        useBinding(b, loop);
        continue;
      }
      const name = type === 'ParamExp' && params ? simpleParam(part as ParamExp) : undefined;
      if (name === undefined) return { ok: false, reason: EXPANSION_REASONS[type] ?? `holds ${type}` };
      b.params = true;
      b.live(`\${${name}}`, `$${name}`);
    }
  }
  return { ok: true, word: b.done() };
}

function boundParam(p: ParamExp, bound: Bindings | undefined): { name: string; value: StaticWord } | undefined {
  if (!bound?.size) return undefined;
  const name = simpleParam(p);
  const value = name === undefined ? undefined : bound.get(name);
  return value && name ? { name, value } : undefined;
}

/** The target writes `"${name}"`; the gateway judges the value it holds in this pass. */
function useBinding(b: WordBuilder, { name, value }: { name: string; value: StaticWord }): void {
  if (value.pattern) b.pattern = true;
  if (b.value === '' && value.leadingPattern) b.leadingPattern = true;
  b.bound = true;
  b.live(`"\${${name}}"`, value.value);
}

/** `$NAME`, `${NAME}` or a special parameter, with no operator (no `${x:-…}`, `${!x}`, `${#x}`, slices). */
function simpleParam(p: ParamExp): string | undefined {
  if (p.Excl || p.Length || p.Width || p.Index || p.Slice || p.Repl || p.Exp || p.Names) return undefined;
  const name = p.Param?.Value ?? '';
  return /^([A-Za-z_][A-Za-z0-9_]*|[?#$!@*0-9-])$/.test(name) ? name : undefined;
}

/** An unquoted literal: backslashes escape, `*`/`?` are patterns, and a few forms are refused. */
function unquoted(text: string, b: WordBuilder, first: boolean, whole: boolean): string | undefined {
  if (text.includes('{') && !(whole && text === '{}')) return 'holds an unquoted `{`, which bash may read as brace expansion';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      i++;
      if (i < text.length) b.literal(text[i]!);
      continue;
    }
    if (c === '*' || c === '?') {
      b.pattern = true;
      b.live(c);
    } else if (c === '[' && text.indexOf(']', i) > i) {
      return 'holds a `[…]` pattern';
    } else if (c === '~') {
      if (first && i === 0 && (text.length === 1 || text[1] === '/')) {
        b.tilde = true;
        b.live('~');
      } else if (first && i === 0) return 'names another user\'s home directory (`~user`)';
      else if (text[i - 1] === '=' || text[i - 1] === ':') return 'holds a `~` that bash may expand after `=` or `:`';
      else b.literal(c);
    } else b.literal(c);
  }
  return undefined;
}

/** Inside double quotes a backslash escapes only `$`, `` ` ``, `"`, `\` and a newline. */
function unescapeDouble(text: string): string {
  return text.replace(/\\([$`"\\\n])/g, (_m, c: string) => (c === '\n' ? '' : c));
}

/** The node type names a reader understands, for refusal reasons. */
export function describeNode(node: Node): string {
  const type = nodeType(node);
  return NODE_NAMES[type] ?? type;
}

const NODE_NAMES: Record<string, string> = {
  Subshell: 'a subshell `( … )`',
  Block: 'a command group `{ … }`',
  IfClause: 'an `if` statement',
  WhileClause: 'a `while`/`until` loop',
  ForClause: 'a `for` loop',
  CaseClause: 'a `case` statement',
  FuncDecl: 'a function definition',
  ArithmCmd: 'an arithmetic command `(( … ))`',
  TestClause: 'a `[[ … ]]` test',
  DeclClause: 'a declaration',
  LetClause: 'a `let` command',
  TimeClause: 'the `time` keyword',
  CoprocClause: 'a coprocess',
  TestDecl: 'a test declaration',
};
