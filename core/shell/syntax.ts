// A typed view of mvdan/sh's bash parser (the parser behind shfmt, built to JavaScript as
// `mvdan-sh`). Only the node fields the classifier reads are typed; everything else stays opaque.
// Operator codes are the parser's token numbers (mvdan.cc/sh/v3/syntax), checked by the unit tests.
import { createRequire } from 'node:module';

export interface Node {
  readonly __node?: never;
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

/** Binary command operators. */
export const BINARY = { and: 10, or: 11, pipe: 12, pipeAll: 13 } as const;

interface MvdanSyntax {
  NewParser(...options: unknown[]): { Parse(src: string, name: string): File };
  KeepComments(on: boolean): unknown;
  Variant(lang: unknown): unknown;
  LangBash: unknown;
  NodeType(node: Node): string;
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
  try {
    return { ok: true, file: parser.Parse(src, '') };
  } catch (err) {
    const e = err as { Error?: () => string; message?: string };
    const error = typeof e.Error === 'function' ? e.Error() : String(e.message ?? err);
    return { ok: false, error, incomplete: syntax.IsIncomplete(err) };
  }
}

export const nodeType = (node: Node): string => syntax.NodeType(node);
