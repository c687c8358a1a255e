// A typed view of mvdan/sh's bash parser (the parser behind shfmt, built to JavaScript as
// `mvdan-sh`). The tree is copied once into plain objects holding only the fields the classifier
// reads: GopherJS's wrapper objects convert every Go value on each property access, which made a
// walk cost several times the parse (and fed the garbage collector). Node types not listed keep
// only their name: the classifier refuses them. Operator codes are the parser's token numbers
// (mvdan.cc/sh/v3/syntax), checked by the unit tests.
import { createRequire } from 'node:module';

export interface Node {
  /** The Go type name: `CallExpr`, `Lit`, `Subshell`… */
  type: string;
}
export interface Lit extends Node {
  Value: string;
}
export interface SglQuoted extends Node {
  /** `$'…'`: ANSI-C escapes, decoded by the shell. */
  Dollar: boolean;
  Value: string;
}
export interface DblQuoted extends Node {
  /** `$"…"`: translated through the locale catalogue. */
  Dollar: boolean;
  Parts: Node[];
}
export interface ParamExp extends Node {
  Short: boolean;
  Excl: boolean;
  Length: boolean;
  Width: boolean;
  Param: Lit | null;
  Index: Node | null;
  Slice: Node | null;
  Repl: Node | null;
  /** `NAMES` operator (`${!prefix*}`): a number, 0 when absent. */
  Names: number;
  Exp: Node | null;
}
export interface Word extends Node {
  Parts: Node[];
}
export interface Assign extends Node {
  Append: boolean;
  Naked: boolean;
  Name: Lit | null;
  Index: Node | null;
  Value: Word | null;
  Array: Node | null;
}
export interface Redirect extends Node {
  Op: number;
  /** The file descriptor before the operator (`2>`), or a `{var}` name. */
  N: Lit | null;
  Word: Word;
  Hdoc: Word | null;
}
export interface Comment {
  Text: string;
}
export interface Stmt extends Node {
  Comments: Comment[];
  Cmd: Node | null;
  Negated: boolean;
  Background: boolean;
  Coprocess: boolean;
  Redirs: Redirect[];
}
export interface CallExpr extends Node {
  Assigns: Assign[];
  Args: Word[];
}
export interface BinaryCmd extends Node {
  Op: number;
  X: Stmt;
  Y: Stmt;
}
export interface DeclClause extends Node {
  Variant: Lit;
  Args: Assign[];
}
export interface File extends Node {
  Stmts: Stmt[];
  Last: Comment[];
}
/** `{ …; }`, `( … )` and `$( … )`: a list of statements. `Last`: comments after the last one. */
export interface Block extends Node {
  Stmts: Stmt[];
  Last: Comment[];
}
export interface CmdSubst extends Block {
  Backquotes: boolean;
  /** The substitution as written, `$(` to `)`. */
  Source: string;
}
export interface IfClause extends Node {
  /** Empty for a final `else`. */
  Cond: Stmt[];
  Then: Stmt[];
  /** The `elif`/`else` that follows, if any. */
  Else: IfClause | null;
  /** Comments anywhere the clause lets them stand on their own. */
  Last: Comment[];
}
export interface WhileClause extends Node {
  Until: boolean;
  Cond: Stmt[];
  Do: Stmt[];
  Last: Comment[];
}
export interface WordIter extends Node {
  Name: Lit;
  /** Whether `in` was written (`for x; do` iterates over the positional parameters). */
  In: boolean;
  Items: Word[];
}
export interface ForClause extends Node {
  Select: boolean;
  /** A WordIter, or a C-style loop the classifier refuses. */
  Loop: Node;
  Do: Stmt[];
  Last: Comment[];
}
export interface CaseItem extends Node {
  Op: number;
  Patterns: Word[];
  Stmts: Stmt[];
  Comments: Comment[];
}
export interface CaseClause extends Node {
  Word: Word;
  Items: CaseItem[];
  Last: Comment[];
}
export interface ArithmExp extends Node {
  /** The old `$[…]` form. */
  Bracket: boolean;
  /** The expression as written between `$((` and `))`. */
  Source: string;
}

/** Redirect operators. */
export const REDIRECT = {
  out: 54, // >
  append: 55, // >>
  in: 56, // <
  readWrite: 57, // <>
  dupIn: 58, // <&
  dupOut: 59, // >&
  clobber: 60, // >|
  hdoc: 61, // <<
  dashHdoc: 62, // <<-
  wordHdoc: 63, // <<<
  all: 64, // &>
  appendAll: 65, // &>>
} as const;

/** How a `case` item ends: only `;;` (the others fall through, which POSIX sh does not share). */
export const CASE_BREAK = 30;

/** Binary command operators. */
export const BINARY = { and: 10, or: 11, pipe: 12, pipeAll: 13 } as const;

interface MvdanSyntax {
  NewParser(...options: unknown[]): { Parse(src: string, name: string): { __internal_object__: GoValue } };
  KeepComments(on: boolean): unknown;
  Variant(lang: unknown): unknown;
  LangBash: unknown;
  IsIncomplete(err: unknown): boolean;
}

const syntax = (createRequire(import.meta.url)('mvdan-sh') as { syntax: MvdanSyntax }).syntax;
const parser = syntax.NewParser(syntax.KeepComments(true), syntax.Variant(syntax.LangBash));

export type ParseResult =
  | { ok: true; file: File }
  /** `incomplete`: the text stops inside a construct (open quote, here-doc, `if` without `fi`…). */
  | { ok: false; error: string; incomplete: boolean };

/** Parses bash source as bash would read it (comments kept, so that they can be refused). */
export function parseBash(src: string): ParseResult {
  let internal: GoValue;
  try {
    internal = parser.Parse(src, '').__internal_object__;
  } catch (err) {
    const e = err as { Error?: () => string; message?: string };
    // A JS error (the stack exhausted by deep nesting) is no syntax error: asking the parser
    // about it throws again.
    if (typeof e.Error !== 'function') return { ok: false, error: TOO_DEEP, incomplete: false };
    return { ok: false, error: e.Error(), incomplete: isIncomplete(err) };
  }
  source = Buffer.from(src);
  try {
    return { ok: true, file: copy(internal) as File };
  } catch {
    return { ok: false, error: TOO_DEEP, incomplete: false };
  } finally {
    source = EMPTY;
  }
}

/** Why text the parser (or the walk of its tree) ran out of stack on is refused. */
export const TOO_DEEP = 'the command is nested too deeply to be read';

/** The parser stopped at the end of the text mid-command (a line to be continued), not at an error. */
export function isIncomplete(err: unknown): boolean {
  try {
    return syntax.IsIncomplete(err);
  } catch {
    return false;
  }
}

export const nodeType = (node: Node): string => node.type;

// ---- copying GopherJS's Go values into plain objects -------------------------------------------
/** A Go value as GopherJS represents it: struct pointers carry their fields; slices are views. */
type GoValue = Record<string, unknown> & { constructor: { string?: string; nil?: unknown } };
interface GoSlice {
  $array: GoValue[];
  $offset: number;
  $length: number;
}

/** The nil interface value (a statement with only a redirect has no command). */
const NIL_INTERFACE = (parser.Parse('>/dev/null', '').__internal_object__.Stmts as GoSlice).$array[0]!.Cmd;

function isNil(v: unknown): boolean {
  if (v === null || v === undefined || v === NIL_INTERFACE) return true;
  return (v as GoValue).constructor?.nil === v;
}

function typeName(v: GoValue): string {
  const full = v.constructor.string ?? '';
  return full.slice(full.lastIndexOf('.') + 1);
}

function list<T>(s: unknown, each: (v: GoValue) => T): T[] {
  const slice = s as GoSlice;
  const out: T[] = [];
  for (let i = 0; i < slice.$length; i++) out.push(each(slice.$array[slice.$offset + i]!));
  return out;
}

const maybe = (v: unknown): Node | null => (isNil(v) ? null : copy(v as GoValue));

const EMPTY = Buffer.alloc(0);
/** The text being copied (for the few nodes kept as source, such as arithmetic). */
let source = EMPTY;
const offset = (pos: unknown): number => (pos as { offs: number }).offs;
/** Comments from every `…Last` list a clause has (bash lets a comment stand before each keyword). */
const comments = (v: GoValue, ...fields: string[]): Comment[] => fields.flatMap((f) => list(v[f], comment));

function copy(v: GoValue): Node {
  const type = typeName(v);
  switch (type) {
    case 'File':
      return { type, Stmts: list(v.Stmts, copy), Last: list(v.Last, comment) } as File;
    case 'Stmt':
      return { type, Comments: list(v.Comments, comment), Cmd: maybe(v.Cmd), Negated: v.Negated, Background: v.Background, Coprocess: v.Coprocess, Redirs: list(v.Redirs, copy) } as Stmt;
    case 'CallExpr':
      return { type, Assigns: list(v.Assigns, copy), Args: list(v.Args, copy) } as CallExpr;
    case 'BinaryCmd':
      return { type, Op: v.Op, X: copy(v.X as GoValue), Y: copy(v.Y as GoValue) } as BinaryCmd;
    case 'DeclClause':
      return { type, Variant: maybe(v.Variant), Args: list(v.Args, copy) } as DeclClause;
    case 'Word':
      return { type, Parts: list(v.Parts, copy) } as Word;
    case 'Lit':
      return { type, Value: v.Value } as Lit;
    case 'Block':
    case 'Subshell':
      return { type, Stmts: list(v.Stmts, copy), Last: list(v.Last, comment) } as Block;
    case 'CmdSubst':
      return {
        type,
        Stmts: list(v.Stmts, copy),
        Last: list(v.Last, comment),
        Backquotes: v.Backquotes,
        Source: source.subarray(offset(v.Left), offset(v.Right) + 1).toString('utf8'),
      } as CmdSubst;
    case 'IfClause':
      return { type, Cond: list(v.Cond, copy), Then: list(v.Then, copy), Else: maybe(v.Else), Last: comments(v, 'CondLast', 'ThenLast', 'Last') } as IfClause;
    case 'WhileClause':
      return { type, Until: v.Until, Cond: list(v.Cond, copy), Do: list(v.Do, copy), Last: comments(v, 'CondLast', 'DoLast') } as WhileClause;
    case 'ForClause':
      return { type, Select: v.Select, Loop: copy(v.Loop as GoValue), Do: list(v.Do, copy), Last: comments(v, 'DoLast') } as ForClause;
    case 'WordIter':
      return { type, Name: maybe(v.Name), In: offset(v.InPos) > 0 || (v.Items as GoSlice).$length > 0, Items: list(v.Items, copy) } as WordIter;
    case 'CaseClause':
      return { type, Word: maybe(v.Word), Items: list(v.Items, copy), Last: list(v.Last, comment) } as CaseClause;
    case 'CaseItem':
      return { type, Op: v.Op, Patterns: list(v.Patterns, copy), Stmts: list(v.Stmts, copy), Comments: comments(v, 'Comments', 'Last') } as CaseItem;
    case 'ArithmExp': {
      const from = offset(v.Left) + 3;
      return { type, Bracket: v.Bracket, Source: source.subarray(from, Math.max(from, offset(v.Right))).toString('utf8') } as ArithmExp;
    }
    case 'SglQuoted':
      return { type, Dollar: v.Dollar, Value: v.Value } as SglQuoted;
    case 'DblQuoted':
      return { type, Dollar: v.Dollar, Parts: list(v.Parts, copy) } as DblQuoted;
    case 'ParamExp':
      return {
        type,
        Short: v.Short,
        Excl: v.Excl,
        Length: v.Length,
        Width: v.Width,
        Param: maybe(v.Param),
        Index: maybe(v.Index),
        Slice: maybe(v.Slice),
        Repl: maybe(v.Repl),
        Names: v.Names,
        Exp: maybe(v.Exp),
      } as ParamExp;
    case 'Redirect':
      return { type, Op: v.Op, N: maybe(v.N), Word: maybe(v.Word), Hdoc: maybe(v.Hdoc) } as Redirect;
    case 'Assign':
      return { type, Append: v.Append, Naked: v.Naked, Name: maybe(v.Name), Index: maybe(v.Index), Value: maybe(v.Value), Array: maybe(v.Array) } as Assign;
    default:
      return { type };
  }
}

const comment = (v: GoValue): Comment => ({ Text: v.Text as string });
