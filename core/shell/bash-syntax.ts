// A typed window on mvdan-sh (mvdan/sh's bash parser, compiled to JS) for what an interactive shell
// needs to know about the text typed so far: is it a whole command yet, does it parse, and which
// names (functions, aliases) does it define. The parser has no TypeScript types; only the few
// members used here are declared.
import { createRequire } from 'node:module';
import { TOO_DEEP, isIncomplete } from './syntax.js';

interface Pos {
  Offset(): number;
}
interface Node {
  Pos(): Pos;
  End(): Pos;
  [field: string]: unknown;
}
interface Syntax {
  NewParser(...options: unknown[]): { Parse(src: string, name: string): Node };
  KeepComments(keep: boolean): unknown;
  Variant(lang: unknown): unknown;
  LangBash: unknown;
  IsIncomplete(err: unknown): boolean;
  Walk(node: Node, visit: (n: Node | null) => boolean): void;
  NodeType(node: Node): string;
}

const syntax = (createRequire(import.meta.url)('mvdan-sh') as { syntax: Syntax }).syntax;
const parser = syntax.NewParser(syntax.KeepComments(true), syntax.Variant(syntax.LangBash));

/** Reserved words that can only continue or close a compound command. */
const RESERVED_ALONE = new Set(['then', 'else', 'elif', 'fi', 'do', 'done', 'esac', '}']);

/** What bash takes as a function's body. */
const COMPOUND = new Set(['Block', 'Subshell', 'IfClause', 'WhileClause', 'ForClause', 'CaseClause', 'ArithmCmd', 'TestClause']);

/** Lists of statements bash will not take empty, per node type. */
const NONEMPTY: Record<string, string[]> = {
  Block: ['Stmts'],
  Subshell: ['Stmts'],
  IfClause: ['Cond', 'Then'],
  WhileClause: ['Cond', 'Do'],
  ForClause: ['Do'],
};

export { TOO_DEEP };

/** The innermost thing left open: no line without it can make the text whole. */
export type Awaited = { heredoc: string } | { quote: string };

export type BashText =
  /** Bash would run it now. */
  | { state: 'complete'; tree: BashTree }
  /** Bash would print PS2 and read another line. `awaits`: what must come before it can be whole. */
  | { state: 'incomplete'; awaits?: Awaited }
  /** Bash would report a syntax error and discard it. */
  | { state: 'error'; message: string };

/** Reads `text` (whole lines, each ending in a newline) the way bash reads typed input. */
export function readBash(text: string): BashText {
  let tree: Node;
  try {
    tree = parser.Parse(text, 'input');
  } catch (err) {
    // A JS error (the stack exhausted by deep nesting) is no syntax error: refuse, never guess.
    if (typeof (err as { Error?: unknown }).Error !== 'function') return { state: 'error', message: TOO_DEEP };
    const message = String((err as { Error(): string }).Error());
    if (isIncomplete(err)) {
      const heredoc = /unclosed here-document '(.*)'$/.exec(message)?.[1];
      const quote = /reached EOF without closing quote (['"])$/.exec(message)?.[1];
      return { state: 'incomplete', awaits: heredoc !== undefined ? { heredoc } : quote ? { quote } : undefined };
    }
    return { state: 'error', message: message.replace(/^input:/, 'line ') };
  }
  const t = new BashTree(tree, text);
  // Walking the tree recurses once per level, more deeply than the parse: text nested deeply
  // enough (a chain of thousands of `|`, hundreds of `$(`) parses, then exhausts the stack when
  // it is walked. Here that refuses it; later walks (session definitions) are guarded by the relay.
  try {
    const misplaced = t.misplacedReservedWord();
    if (misplaced) return { state: 'error', message: `syntax error near unexpected token \`${misplaced}'` };
    const unlike = t.readDifferently();
    if (unlike) return { state: 'error', message: unlike };
    // mvdan/sh reads a backslash-newline at the very end as the end of input; bash reads it as a line
    // continuation and asks for the next line, unless the backslash ends a comment.
    if (/(^|[^\\])(\\\\)*\\\n$/.test(text) && !t.inComment(Buffer.byteLength(text) - 2)) return { state: 'incomplete' };
  } catch {
    return { state: 'error', message: TOO_DEEP };
  }
  return { state: 'complete', tree: t };
}

export class BashTree {
  #walked: { type: string; node: Node }[] | undefined;
  constructor(
    private readonly root: Node,
    readonly text: string,
  ) {}

  /**
   * Every node, walked on first use: walking mvdan/sh's tree from JS costs far more than parsing
   * (each node crosses from the compiled Go), so checks look at the text first and most commands
   * are never walked.
   */
  get #nodes(): { type: string; node: Node }[] {
    if (!this.#walked) {
      const nodes: { type: string; node: Node }[] = [];
      syntax.Walk(this.root, (n) => {
        if (n) nodes.push({ type: syntax.NodeType(n), node: n });
        return true;
      });
      this.#walked = nodes;
    }
    return this.#walked;
  }

  /** Could the text hold a node of this kind? (A cheap test on the text, never a false "no".) */
  mayHold(kind: 'quote' | 'function' | 'alias' | 'compound' | 'heredoc' | 'backquote' | 'comment'): boolean {
    const t = this.text;
    switch (kind) {
      case 'quote':
        return t.includes("'");
      case 'function':
        return t.includes('(') || t.includes('function');
      case 'alias':
        return t.includes('alias');
      case 'compound':
        return /[{}()]|\b(then|else|elif|fi|do|done|esac)\b/.test(t) || t.includes('function');
      case 'heredoc':
        return t.includes("<<") && /\$[({[]|`/.test(t);
      case 'backquote':
        return t.includes('`');
      case 'comment':
        return t.includes('#');
    }
  }

  /** Is the byte at `offset` part of a comment? */
  inComment(offset: number): boolean {
    return this.mayHold('comment') && this.#nodes.some(({ type, node }) => type === 'Comment' && node.Pos().Offset() <= offset && offset < node.End().Offset());
  }

  /** Byte ranges [start, end) of single-quoted strings ('…', not $'…'). */
  singleQuoted(): [number, number][] {
    if (!this.mayHold('quote')) return [];
    return this.#nodes.filter(({ type, node }) => type === 'SglQuoted' && !node.Dollar).map(({ node }) => [node.Pos().Offset(), node.End().Offset()]);
  }

  /**
   * mvdan/sh reads some of bash's reserved words as command names where bash stops with a syntax
   * error (`else` alone), and takes a simple command as a function body: the word bash would stop
   * at, if any.
   */
  misplacedReservedWord(): string | undefined {
    if (!this.mayHold('compound')) return undefined;
    for (const { type, node } of this.#nodes) {
      // Bash wants a compound command as a function's body; mvdan/sh also takes a simple one.
      if (type === 'FuncDecl') {
        const body = (node.Body as { Cmd?: Node } | undefined)?.Cmd;
        if (!body || !COMPOUND.has(syntax.NodeType(body))) return String((node.Name as { Value: string }).Value);
      }
      // Bash wants at least one command in a body; mvdan/sh takes an empty one (`{` then `}`).
      for (const field of NONEMPTY[type] ?? []) {
        if (field === 'Cond' && type === 'IfClause' && !/^(if|elif)\b/.test(this.#at(node))) continue; // `else` has none
        if (!(node[field] as unknown[] | undefined)?.length) return this.#at(node).split(/\s/)[0] || type;
      }
      if (type !== 'CallExpr') continue;
      const parts = ((node.Args as Node[])[0]?.Parts as Node[] | undefined) ?? [];
      const only = parts.length === 1 && syntax.NodeType(parts[0]!) === 'Lit' ? String(parts[0]!.Value) : undefined;
      if (only && RESERVED_ALONE.has(only)) return only;
    }
    return undefined;
  }

  /**
   * Text mvdan/sh reads differently from bash although both accept it: bash ends a here-document at
   * the first line equal to its delimiter, even inside a `$(…)` mvdan/sh is still reading; and bash
   * finds the end of a backquoted substitution before it reads quotes inside it.
   */
  readDifferently(): string | undefined {
    if (!this.mayHold('heredoc') && !this.mayHold('backquote')) return undefined;
    const bytes = Buffer.from(this.text);
    for (const { type, node } of this.#nodes) {
      if (type === 'Redirect' && node.Hdoc) {
        const delimiter = wordValue(node.Word as Node);
        if (delimiter.includes(COMPUTED)) return 'a here-document delimiter with an expansion in it';
        const hdoc = node.Hdoc as Node;
        const body = bytes.subarray(hdoc.Pos().Offset(), hdoc.End().Offset()).toString('utf8');
        // The node ends with the closing delimiter line: any earlier line equal to it is the problem.
        const lines = body.split('\n').map((line) => line.replace(/^\t+/, ''));
        if (lines.at(-1) === delimiter) lines.pop();
        if (lines.includes(delimiter)) {
          return `the here-document's body holds its delimiter line ${delimiter} inside an expansion, where bash would end it`;
        }
      }
      if (type === 'CmdSubst' && node.Backquotes) {
        const inner = bytes.subarray(node.Pos().Offset() + 1, node.End().Offset() - 1).toString('utf8');
        if (/['"\n]/.test(inner)) return 'quotes or line breaks inside `…` are read differently by bash; use $(…)';
      }
    }
    return undefined;
  }

  #at(node: Node): string {
    return Buffer.from(this.text).subarray(node.Pos().Offset(), node.Pos().Offset() + 8).toString('utf8');
  }

  /** Names of functions this text defines. */
  functions(): string[] {
    if (!this.mayHold('function')) return [];
    return this.#nodes.filter(({ type }) => type === 'FuncDecl').map(({ node }) => String((node.Name as { Value: string }).Value));
  }

  /**
   * Every simple command, as its words. A word is its value when it has no expansions (quotes
   * removed); otherwise the value of its leading static part followed by U+FFFD.
   */
  calls(): string[][] {
    return this.#nodes.filter(({ type }) => type === 'CallExpr').map(({ node }) => (node.Args as Node[]).map(wordValue));
  }
}

export const COMPUTED = '\uFFFD';

function wordValue(word: Node): string {
  let value = '';
  for (const part of word.Parts as Node[]) {
    const type = syntax.NodeType(part);
    if (type === 'Lit') value += String(part.Value).replace(/\\\n/g, '').replace(/\\(.)/gs, '$1');
    else if (type === 'SglQuoted' && !part.Dollar) value += String(part.Value);
    else if (type === 'DblQuoted' && (part.Parts as Node[]).every((p) => syntax.NodeType(p) === 'Lit')) {
      value += (part.Parts as Node[]).map((p) => String(p.Value)).join('');
    } else return value + COMPUTED;
  }
  return value;
}
