// Classifies a shell command for policy from bash's own grammar (mvdan/sh), with allow-lists at
// every level: the shell structure (simple commands joined by `;`, `&&`, `||`, pipes, plain file
// redirects), the words (values known before the command runs), the builtins, the variables, and
// each program's options. Anything outside them is `opaque`. The same walk rebuilds the command in
// canonical POSIX sh — the text the gateway forwards — so the target runs only what was judged.
import { posix } from 'node:path';
import { LruCache } from '../lru.js';
import { moreDangerous, type StatementClass } from '../model.js';
import { has, parseOptions, type OptionTable } from './options.js';
import {
  CATEGORY_CLASS,
  DESTRUCTIVE,
  DISK_TOOLS,
  DOWNLOADERS,
  ESCALATING,
  FILE_WRITERS,
  HARMLESS_REDIRECTS,
  INTERPRETER_REASON,
  INTERPRETERS,
  NETWORK_RAW,
  PACKAGE_TOOLS,
  PROCESS_CONTROL,
  SERVICE_CONTROL,
  SHELLS,
  SYSTEM_BIN_DIRS,
  SYSTEM_PATHS,
  USER_MANAGEMENT,
  WRAPPERS,
  type CommandCategory,
} from './programs.js';
import { judgeFind, READ_PROGRAMS, type Judge } from './read-programs.js';
import { GIT_GUARD, isGuardedGit } from './git-guard.js';
import { hereDocument, hereString } from './here-documents.js';
import {
  BINARY,
  CASE_BREAK,
  nodeType,
  parseBash,
  REDIRECT,
  type Assign,
  type BinaryCmd,
  type Block,
  type CallExpr,
  type CaseClause,
  type CmdSubst,
  type Comment,
  type DblQuoted,
  type DeclClause,
  type ForClause,
  type IfClause,
  type Redirect,
  type Stmt,
  type WhileClause,
  type WordIter,
} from './syntax.js';
import { describeNode, quote, quoteProgram, staticWord, type StaticWord, type WordResult } from './words.js';

/** What inspection found in one command line (an SSH exec request, or a line typed in a shell). */
export interface CommandInspection {
  class: StatementClass;
  /** Program names run (base names), wrappers such as sudo included, in order of appearance. */
  binaries: string[];
  /** Every word of every command, after quote removal. */
  argv: string[];
  categories: CommandCategory[];
  /** Something runs as another user (sudo, su, doas, pkexec, runuser, chroot). */
  sudo: boolean;
  /** Files the line writes to (redirect targets, destinations of file tools), as written. */
  paths: string[];
  /** Human-readable reasons for the class, each naming the part judged. */
  reasons: string[];
  /** The command line as sent. */
  text: string;
  /**
   * The command rebuilt from the syntax tree in canonical POSIX sh: what the target is given to run.
   * Absent when the class is opaque (nothing the gateway could vouch for).
   */
  rebuilt?: string;
}

/** Variables a command may set (prefix assignments, `export`, `env NAME=…`): they change no program's behaviour beyond formatting. */
export const ALLOWED_VARIABLES = /^(LANG|LANGUAGE|LC_[A-Z]+|TZ|TERM|COLUMNS|LINES|NO_COLOR|CLICOLOR|TIME_STYLE|SYSTEMD_COLORS|GREP_COLORS)$/;

/**
 * Shell builtins that cannot change what later words run: no aliases, functions, hashed paths,
 * options, traps, variables or file descriptors. (`cd` only moves the working directory.)
 */
const SAFE_BUILTINS = new Set(['echo', 'printf', 'true', 'false', ':', 'test', '[', 'cd', 'pwd', 'exit', 'type', 'break', 'continue']);

const MAX_NESTING = 3;
/** Values a `for` list may hold: its body is judged once for each. */
const MAX_LOOP_VALUES = 32;
/** Simple commands judged for one command line, loop bodies counted once per value. */
const MAX_JUDGED = 1024;
/**
 * Loop variables: shell variables no program or shell feature reads (upper case is the shell's and
 * the environment's; a few lower-case names are too).
 */
const LOOP_VARIABLE = /^[a-z][a-z0-9_]*$/;
const SPECIAL_LOWER_CASE = /^(histchars|auto_resume|[a-z_]*proxy)$/;
/** Longer commands are refused unparsed: a parse must not hold the event loop for long. */
const MAX_COMMAND_BYTES = 64 * 1024;
/** Only commands up to this size are cached, so the cache stays within ~16 MiB. */
const MAX_CACHED_BYTES = 4 * 1024;
const cache = new LruCache<string, CommandInspection>(4096);

/** What is known of the shell the command runs in, beyond the command's text. */
export interface ShellState {
  /**
   * An earlier command of the session ran `cd` (an interactive shell keeps its directory between
   * commands): relative paths no longer say where they land.
   */
  movedDirectory?: boolean;
}

export function inspectCommand(text: string, state: ShellState = {}): CommandInspection {
  const key = state.movedDirectory ? `cd\0${text}` : text; // a NUL cannot stand in a command
  const hit = cache.get(key);
  if (hit) return hit;
  const result = inspectUncached(text, state);
  if (text.length <= MAX_CACHED_BYTES) cache.set(key, result);
  return result;
}

class Findings implements Judge {
  cls: StatementClass = 'read';
  readonly binaries: string[] = [];
  readonly argv: string[] = [];
  readonly categories = new Set<CommandCategory>();
  readonly paths: string[] = [];
  readonly reasons: string[] = [];
  sudo = false;
  /** A `cd` ran: relative paths no longer say where they land. */
  movedDirectory = false;
  /** Loop variables in scope, each with the value being judged. */
  vars = new Map<string, StaticWord>();
  /** Here-document bodies (with their delimiter lines) waiting for the end of the line. */
  heredocs: string[] = [];
  /** Simple commands judged so far. */
  judged = 0;
  /** Judging the git inside the gateway's own git guard (it is not wrapped again). */
  guarded = false;

  raise(cls: StatementClass, reason: string): void {
    this.cls = moreDangerous(this.cls, cls);
    if (!this.reasons.includes(reason)) this.reasons.push(reason);
  }
  opaque(reason: string): void {
    this.raise('opaque', reason);
  }
  flag(category: CommandCategory, reason: string): void {
    this.categories.add(category);
    this.raise(CATEGORY_CLASS[category], reason);
  }
  writes(path: string, reason: string): void {
    this.paths.push(path);
    if (path.startsWith('/dev/tcp/') || path.startsWith('/dev/udp/')) return this.flag('network_exfiltration', `${reason}: bash opens a network connection for ${path}`);
    if (this.movedDirectory && !path.startsWith('/')) this.flag('system_path_write', `${reason}, after a \`cd\` the gateway cannot tell where`);
    else if (isSystemPath(path)) this.flag('system_path_write', `${reason}, under a system path`);
    else this.flag('file_write', reason);
  }
  removes(path: string, reason: string): void {
    this.paths.push(path);
    this.flag('destructive_file', reason);
    if (this.movedDirectory && !path.startsWith('/')) this.flag('system_path_write', `${reason}, after a \`cd\` the gateway cannot tell where`);
    else if (isSystemPath(path)) this.flag('system_path_write', `${reason}: ${path} is a system path`);
  }
  /** Set while judging one simple command: lets wrappers classify the command they run. */
  nested?: (argv: string[], context: string) => void;
  run(argv: string[], context: string): void {
    this.nested?.(argv, context);
  }
}

/** Records an opaque finding; the part's canonical form is then irrelevant. */
function refused(f: Findings, reason: string): string {
  f.opaque(reason);
  return '';
}

/** Inspection without the cache (benchmarks measure the parse itself with it). */
export function inspectUncached(text: string, state: ShellState = {}): CommandInspection {
  const f = new Findings();
  f.movedDirectory = state.movedDirectory ?? false;
  let rebuilt: string;
  try {
    rebuilt = inspectScript(text, f, 0);
  } catch {
    // The judging walk recurses per level of nesting; text deep enough to exhaust the stack
    // (a chain of thousands of `|`) is refused, and never takes the gateway down with it.
    rebuilt = refused(f, 'the command is nested too deeply to be inspected');
  }
  return {
    class: f.cls,
    binaries: [...new Set(f.binaries)],
    argv: f.argv,
    categories: [...f.categories],
    sudo: f.sudo,
    paths: [...new Set(f.paths)],
    reasons: f.reasons,
    text,
    rebuilt: f.cls === 'opaque' ? undefined : rebuilt,
  };
}

/** Judges a whole script (its own variables and here-documents); returns its canonical form. */
function inspectScript(text: string, f: Findings, depth: number): string {
  const { vars, heredocs } = f;
  f.vars = new Map();
  f.heredocs = [];
  try {
    return parseScript(text, f, depth);
  } finally {
    f.vars = vars;
    f.heredocs = heredocs;
  }
}

function parseScript(text: string, f: Findings, depth: number): string {
  if (depth > MAX_NESTING) return refused(f, 'shell commands are nested too deeply');
  if (text.includes('\0')) return refused(f, 'the command holds a NUL byte');
  if (Buffer.byteLength(text) > MAX_COMMAND_BYTES) return refused(f, `the command is longer than ${MAX_COMMAND_BYTES} bytes`);
  const parsed = parseBash(text);
  if (!parsed.ok) {
    f.opaque(parsed.incomplete ? `the command is incomplete (${parsed.error})` : `the command does not parse as bash (${parsed.error})`);
    return '';
  }
  if (parsed.file.Last.length) f.opaque('the command holds a comment (`#…`); exec requests must not carry any');

  if (parsed.file.Stmts.length === 0) f.opaque('the command is empty');
  return lines(parsed.file.Stmts, f, depth);
}

/**
 * Statements as lines of a script: here-document bodies follow the line that opened them. (Within
 * a compound command the statements share one line, so its bodies come after the whole compound.)
 */
function lines(stmts: Stmt[], f: Findings, depth: number): string {
  let out = '';
  for (const s of stmts) {
    if (out !== '' && !out.endsWith('\n')) out += '; ';
    out += statement(s, f, depth, []);
    if (f.heredocs.length) out += `\n${f.heredocs.splice(0).join('')}`;
  }
  return out;
}

/** Statements in a compound command, on one line. */
function sequence(stmts: Stmt[], f: Findings, depth: number, upstream: string[], what: string): string {
  if (stmts.length === 0) return refused(f, `${what} is empty`);
  return stmts.map((s) => statement(s, f, depth, upstream)).join('; ');
}

function noComments(comments: Comment[], f: Findings): void {
  if (comments.length) f.opaque('the command holds a comment (`#…`); exec requests must not carry any');
}

/**
 * `$( … )` inside a here-document or here-string: its commands are judged like any other; its
 * output is only data for the command reading the document.
 */
function commandSubstitution(c: CmdSubst, f: Findings, depth: number): string {
  if (c.Backquotes) return refused(f, 'a `…` command substitution (bash reads quotes inside it differently; use $(…))');
  if (depth + 1 > MAX_NESTING) return refused(f, 'shell commands are nested too deeply');
  noComments(c.Last, f);
  if (c.Stmts.length === 0) return refused(f, 'an empty command substitution');
  const outer = f.heredocs;
  f.heredocs = [];
  try {
    return lines(c.Stmts, f, depth + 1);
  } finally {
    f.heredocs = outer;
  }
}

function ifClause(c: IfClause, f: Findings, depth: number, upstream: string[]): string {
  noComments(c.Last, f);
  let out = `if ${sequence(c.Cond, f, depth, upstream, 'an `if` condition')}; then ${sequence(c.Then, f, depth, upstream, 'an `if` branch')}`;
  for (let e = c.Else; e; e = e.Else) {
    noComments(e.Last, f);
    if (e.Cond.length) out += `; elif ${sequence(e.Cond, f, depth, upstream, 'an `elif` condition')}; then ${sequence(e.Then, f, depth, upstream, 'an `elif` branch')}`;
    else out += `; else ${sequence(e.Then, f, depth, upstream, 'an `else` branch')}`;
  }
  return `${out}; fi`;
}

function whileClause(c: WhileClause, f: Findings, depth: number, upstream: string[]): string {
  noComments(c.Last, f);
  const keyword = c.Until ? 'until' : 'while';
  const judge = () => `${keyword} ${sequence(c.Cond, f, depth, upstream, `a \`${keyword}\` condition`)}; do ${sequence(c.Do, f, depth, upstream, 'a loop body')}; done`;
  const moved = f.movedDirectory;
  const mark = f.heredocs.length;
  const text = judge();
  if (!moved && f.movedDirectory) {
    // A `cd` in the loop moves every later pass: judge it again as its second pass runs (with
    // relative paths landing anywhere); its text and here-documents are those of the first.
    const bodies = f.heredocs.slice(mark);
    judge();
    f.heredocs.length = mark;
    f.heredocs.push(...bodies);
  }
  return text;
}

function caseClause(c: CaseClause, f: Findings, depth: number, upstream: string[]): string {
  noComments(c.Last, f);
  // The word is only compared with the patterns: a parameter's value cannot act, and a command
  // substitution's commands are judged.
  const w = caseWord(c, f, depth);
  if (!w.ok) return refused(f, `the \`case\` word ${w.reason}`);
  const items = c.Items.map((item) => {
    noComments(item.Comments, f);
    if (item.Op !== CASE_BREAK) return refused(f, 'a `case` item that falls through (`;&`, `;;&`)');
    const patterns = item.Patterns.map((p) => {
      const r = staticWord(p, false, f.vars);
      if (!r.ok) return refused(f, `a \`case\` pattern ${r.reason}`);
      if (r.word.tilde) return refused(f, 'a `case` pattern starts with `~`');
      // Written bare, a first pattern `esac` would end the statement: `case x in 'esac')` stays quoted.
      return r.word.shell === 'esac' ? "'esac'" : r.word.shell;
    });
    const body = item.Stmts.length ? `${sequence(item.Stmts, f, depth, upstream, 'a `case` item')} ` : '';
    return `${patterns.join('|')}) ${body};;`;
  });
  return `case ${w.word.shell} in ${items.join(' ')} esac`;
}

/** `case WORD`, or `case "$( … )"` whose commands are judged. */
function caseWord(c: CaseClause, f: Findings, depth: number): WordResult {
  const parts = c.Word.Parts;
  const only = parts.length === 1 ? parts[0]! : undefined;
  const inner = only && nodeType(only) === 'DblQuoted' && (only as DblQuoted).Parts.length === 1 ? (only as DblQuoted).Parts[0]! : only;
  if (inner && nodeType(inner) === 'CmdSubst') {
    const text = commandSubstitution(inner as CmdSubst, f, depth);
    return { ok: true, word: { value: '', shell: `"$(${text})"`, pattern: false, tilde: false, params: true } };
  }
  return staticWord(c.Word, true, f.vars);
}

/**
 * A `for` loop over a list of words the gateway knows: its body is judged once per value, with the
 * loop variable holding it; the rebuilt body must come out the same for every value (it still names
 * the variable, which the target sets from the same list).
 */
function forClause(c: ForClause, f: Findings, depth: number, upstream: string[]): string {
  noComments(c.Last, f);
  if (c.Select) return refused(f, '`select` reads a choice from its input');
  if (nodeType(c.Loop) !== 'WordIter') return refused(f, 'a C-style `for ((…))` loop holds arithmetic');
  const loop = c.Loop as WordIter;
  const name = loop.Name.Value;
  if (!LOOP_VARIABLE.test(name) || SPECIAL_LOWER_CASE.test(name)) return refused(f, `the loop variable \`${name}\` is one the shell or programs read (use a lower-case name)`);
  if (!loop.In) return refused(f, '`for` without `in` loops over the positional parameters');
  const values: StaticWord[] = [];
  for (const item of loop.Items) {
    const w = staticWord(item, false, f.vars);
    if (!w.ok) return refused(f, `a word of the \`for\` list ${w.reason}`);
    if (w.word.tilde) return refused(f, 'a word of the `for` list starts with `~`');
    values.push(w.word);
  }
  if (values.length > MAX_LOOP_VALUES) return refused(f, `the \`for\` list holds more than ${MAX_LOOP_VALUES} words`);
  const outer = f.vars;
  let body: string | undefined;
  let first: string | undefined;
  try {
    const passes = values.length ? values : [undefined];
    passes.forEach((value, i) => {
      f.vars = new Map(outer);
      if (value) f.vars.set(name, value);
      else f.vars.delete(name);
      const mark = f.heredocs.length;
      const text = sequence(c.Do, f, depth, upstream, 'a loop body');
      const whole = text + f.heredocs.slice(mark).join('');
      if (i < passes.length - 1) f.heredocs.length = mark; // the bodies are written once
      if (first !== undefined && whole !== first) f.opaque(`the loop body cannot be rebuilt the same way for every value of \`${name}\``);
      first ??= whole;
      body ??= text;
    });
  } finally {
    f.vars = outer;
  }
  // After the loop the variable keeps whichever value it last took (a `break` can stop it at any
  // of them): an enclosing loop's binding of the same name no longer holds.
  f.vars.delete(name);
  return `for ${name} in ${values.map((v) => v.shell).join(' ')}; do ${body}; done`;
}

/**
 * One statement. `upstream`: the programs whose output feeds this one through a pipe (so that
 * `curl … | sh` is recognised as download-and-execute).
 */
function statement(s: Stmt, f: Findings, depth: number, upstream: string[]): string {
  if (s.Comments.length) f.opaque('the command holds a comment (`#…`); exec requests must not carry any');
  if (s.Background) f.opaque('the command runs something in the background (`&`)');
  if (s.Coprocess) f.opaque('the command starts a coprocess');
  const redirects = s.Redirs.map((r) => redirect(r, f, depth));
  let body: string;
  const cmd = s.Cmd;
  const type = cmd ? nodeType(cmd) : 'none';
  if (cmd === null || type === 'CallExpr') body = simple((cmd as CallExpr | null) ?? { type: 'CallExpr', Assigns: [], Args: [] }, f, depth, upstream);
  else if (type === 'BinaryCmd') {
    const b = cmd as BinaryCmd;
    const before = f.binaries.length;
    const x = statement(b.X, f, depth, upstream);
    const pipe = b.Op === BINARY.pipe || b.Op === BINARY.pipeAll;
    const y = statement(b.Y, f, depth, pipe ? [...upstream, ...f.binaries.slice(before)] : []);
    if (b.Op === BINARY.and) body = `${x} && ${y}`;
    else if (b.Op === BINARY.or) body = `${x} || ${y}`;
    else if (b.Op === BINARY.pipe) body = `${x} | ${y}`;
    else if (b.Op === BINARY.pipeAll) body = `${x} 2>&1 | ${y}`; // bash's `|&`, spelled for POSIX sh
    else {
      f.opaque(`the shell operator ${b.Op} is not one the gateway knows`);
      body = '';
    }
  } else if (type === 'DeclClause') body = declaration(cmd as DeclClause, f);
  else if (type === 'Block' || type === 'Subshell') {
    const b = cmd as Block;
    noComments(b.Last, f);
    const inner = sequence(b.Stmts, f, depth, upstream, describeNode(cmd));
    body = type === 'Block' ? `{ ${inner}; }` : `( ${inner} )`;
  } else if (type === 'IfClause') body = ifClause(cmd as IfClause, f, depth, upstream);
  else if (type === 'WhileClause') body = whileClause(cmd as WhileClause, f, depth, upstream);
  else if (type === 'ForClause') body = forClause(cmd as ForClause, f, depth, upstream);
  else if (type === 'CaseClause') body = caseClause(cmd as CaseClause, f, depth, upstream);
  else {
    f.opaque(`the command holds ${describeNode(cmd)}`);
    body = '';
  }
  return [s.Negated ? '!' : '', body, ...redirects].filter(Boolean).join(' ');
}

function redirect(r: Redirect, f: Findings, depth: number): string {
  const fd = r.N?.Value;
  if (fd !== undefined && !/^\d$/.test(fd)) {
    f.opaque(`the redirect \`${fd}\` names a file descriptor variable`);
    return '';
  }
  if (r.Op === REDIRECT.hdoc || r.Op === REDIRECT.dashHdoc || r.Op === REDIRECT.wordHdoc) {
    const substitute = (c: CmdSubst) => commandSubstitution(c, f, depth);
    const here = r.Op === REDIRECT.wordHdoc ? hereString(r.Word, substitute) : hereDocument(r, substitute);
    if (!here.ok) return refused(f, here.reason);
    f.heredocs.push(here.body);
    return `${fd ?? ''}${here.operator}`;
  }
  const w = staticWord(r.Word, false, f.vars);
  if (!w.ok) return refused(f, `a redirect target ${w.reason}`);
  const target = w.word;
  if (target.pattern) return refused(f, 'a redirect target is a file name pattern');
  const n = fd ?? '';
  const path = target.value;
  switch (r.Op) {
    case REDIRECT.in:
      if (path.startsWith('/dev/tcp/') || path.startsWith('/dev/udp/')) f.flag('network_exfiltration', `the input redirect \`< ${path}\` opens a network connection`);
      return `${n}<${target.shell}`;
    case REDIRECT.dupIn:
    case REDIRECT.dupOut: {
      const op = r.Op === REDIRECT.dupIn ? '<&' : '>&';
      if (/^\d$|^-$/.test(path)) return `${n}${op}${path}`;
      if (r.Op === REDIRECT.dupOut && fd === undefined) return output(path, target, f, '>', ' 2>&1', '>&');
      f.opaque(`the redirect \`${op}${path}\` is not a file descriptor`);
      return '';
    }
    case REDIRECT.out:
      return output(path, target, f, `${n}>`, '', '>');
    case REDIRECT.clobber:
      return output(path, target, f, `${n}>|`, '', '>|');
    case REDIRECT.append:
      return output(path, target, f, `${n}>>`, '', '>>');
    case REDIRECT.readWrite:
      return output(path, target, f, `${n}<>`, '', '<>');
    case REDIRECT.all:
      return output(path, target, f, '>', ' 2>&1', '&>');
    case REDIRECT.appendAll:
      return output(path, target, f, '>>', ' 2>&1', '&>>');
    default:
      f.opaque(`the redirect operator ${r.Op} is not one the gateway knows`);
      return '';
  }
}

function output(path: string, target: StaticWord, f: Findings, op: string, suffix: string, shown: string): string {
  if (!HARMLESS_REDIRECTS.has(path)) f.writes(path, `the redirect \`${shown} ${path}\` writes ${path}`);
  return `${op}${target.shell}${suffix}`;
}

function assignment(a: Assign, f: Findings, where: string): string {
  const name = a.Name?.Value ?? '';
  if (a.Index || a.Array || a.Append) return refused(f, `${where} \`${name}\` uses an array or \`+=\``);
  if (!ALLOWED_VARIABLES.test(name)) return refused(f, `${where} sets \`${name}\`, which is not a variable the gateway allows (it can change what runs or how)`);
  if (a.Naked || !a.Value) return name;
  const w = staticWord(a.Value);
  if (!w.ok) return refused(f, `the value of \`${name}\` ${w.reason}`);
  return `${name}=${w.word.shell}`;
}

function declaration(d: DeclClause, f: Findings): string {
  const variant = d.Variant.Value;
  if (variant !== 'export') return refused(f, `the builtin \`${variant}\` can change how later commands run`);
  const parts = d.Args.map((a) => (a.Name ? assignment(a, f, '`export`') : (f.opaque('`export` with options'), '')));
  if (parts.length === 0) f.opaque('`export` without a variable');
  return `export ${parts.join(' ')}`;
}

function simple(call: CallExpr, f: Findings, depth: number, upstream: string[]): string {
  if (++f.judged > MAX_JUDGED) return refused(f, `the command holds more than ${MAX_JUDGED} commands to judge (loop bodies count once per value)`);
  const assigns = call.Assigns.map((a) => assignment(a, f, 'a prefix assignment'));
  const words: StaticWord[] = [];
  for (const arg of call.Args) {
    // Only `echo` may print a parameter's value: its arguments can be no option that acts.
    // Loop variables are never programs: only arguments see their values.
    const w = staticWord(arg, words.length > 0 && words[0]!.value === 'echo', words.length > 0 ? f.vars : undefined);
    if (!w.ok) {
      f.opaque(words.length === 0 ? `the program name ${w.reason}` : `an argument of \`${words[0]!.value}\` ${w.reason}`);
      return '';
    }
    words.push(w.word);
  }
  if (words.length === 0) return assigns.join(' ');
  const argv = words.map((w) => w.value);
  f.argv.push(...argv);
  const rewrites = new Map<number, string>();
  const judge = (at: number, context?: string) => examine(argv.slice(at), words.slice(at), f, depth, upstream, (i, text) => rewrites.set(at + i, text), context);
  judge(0);
  // `*.log` can expand to `-rf.log`: a file name read as an option. Only programs none of whose
  // options write or execute may receive such a pattern.
  const leading = words.findIndex((w, i) => i > 0 && w.pattern && (w.leadingPattern || /^[*?]/.test(w.shell)));
  if (leading > 0 && !READ_PROGRAMS[posix.basename(argv[0]!)]?.appendSafe) {
    f.opaque(`the pattern \`${words[leading]!.value}\` can expand to a file name that \`${argv[0]}\` reads as an option`);
  }
  const shell = words.map((w, i) => rewrites.get(i) ?? (i === 0 ? programShell(w) : w.shell));
  return [...assigns, ...shell].join(' ');
}

const programShell = (w: StaticWord): string => (w.pattern || w.tilde ? w.shell : quoteProgram(w.value));

type Rewrite = (index: number, shell: string) => void;

/** Judges one command (argv[0] is the program); wrappers judge the command they run. */
function examine(argv: string[], words: StaticWord[], f: Findings, depth: number, upstream: string[], rewrite: Rewrite, context?: string): void {
  const first = words[0]!;
  const shown = first.value;
  const where = context ? `${context} runs ` : '';
  if (first.pattern || first.tilde) return f.opaque(`${where}the program name \`${shown}\` is expanded on the target`);
  let name = shown;
  if (shown.includes('/')) {
    const normalized = posix.normalize(shown);
    name = posix.basename(normalized);
    f.binaries.push(name);
    if (!SYSTEM_BIN_DIRS.has(posix.dirname(normalized))) return f.opaque(`${where}\`${shown}\`, a program outside the system directories`);
  } else f.binaries.push(name);
  const args = argv.slice(1);
  const next = (k: number, ctx: string) => examine(argv.slice(k), words.slice(k), f, depth, upstream, (i, t) => rewrite(i + k, t), ctx);
  f.nested = (inner, ctx) => {
    const innerWords = inner.map((value) => ({ value, shell: quote(value), pattern: false, tilde: false, params: false }));
    examine(inner, innerWords, f, depth, [], () => f.opaque(`${ctx} runs a shell whose script cannot be rebuilt`), ctx);
  };

  if (ESCALATING.has(name)) {
    f.sudo = true;
    f.flag('privilege_escalation', `\`${name}\` runs a command as another user`);
  }
  if (WRAPPERS.has(name)) return wrapper(name, argv, f, next, depth, rewrite);
  if (isGuardedGit(argv)) return guardedGit(argv, words, f, depth, upstream, rewrite);
  if (SHELLS.has(name)) return shell(name, args, f, depth, upstream, rewrite);
  if (SAFE_BUILTINS.has(name) && !shown.includes('/')) return builtin(name, args, f);
  if (BUILTINS.has(name)) return f.opaque(`\`${name}\` is a shell builtin that can change what later commands run`);
  if (name === 'find') return judgeFind(args, f);
  const read = READ_PROGRAMS[name];
  if (read) {
    readProgram(name, args, f, new Set(words.slice(1).filter((w) => w.pattern).map((w) => w.value)));
    // git runs programs its repository's configuration names: it runs through the guard.
    if (name === 'git' && !f.guarded) rewrite(0, `/bin/sh -c ${quote(GIT_GUARD)} ${programShell(first)}`);
    // A pager on the shell's terminal would read the agent's next lines instead of bash.
    else if (read.noPager && !args.includes(read.noPager)) {
      rewrite(0, `${programShell(first)} ${read.noPager}`);
      f.argv.splice(f.argv.length - argv.length + 1, 0, read.noPager); // this command's words end f.argv
    }
    return;
  }
  if (INTERPRETERS.has(name)) {
    if (fromDownloader(upstream)) f.flag('download_execute', `a download is piped into \`${name}\``);
    return f.flag('inline_script', INTERPRETER_REASON(name));
  }
  if (DESTRUCTIVE.has(name)) {
    f.flag('destructive_file', `\`${name}\` deletes or overwrites files`);
    for (const p of operands(args)) f.removes(p, `\`${name}\` acts on ${p}`);
    return;
  }
  if (DISK_TOOLS.has(name) || /^(mkfs|fsck|mke2fs|mkdosfs|mkswap)/.test(name)) return f.flag('disk_tool', `\`${name}\` changes disks or file systems`);
  if (SERVICE_CONTROL.has(name)) return f.flag('service_control', `\`${name}\` controls services or the system`);
  if (PROCESS_CONTROL.has(name)) return f.flag('process_control', `\`${name}\` signals or reprioritises processes`);
  if (name in PACKAGE_TOOLS) {
    const subs = PACKAGE_TOOLS[name];
    if (!subs || args.some((a) => subs.has(a))) return f.flag('package_install', `\`${name}\` installs or removes software`);
    return f.opaque(`\`${name}\` without an install sub-command is not judged`);
  }
  if (USER_MANAGEMENT.has(name)) return f.flag('user_management', `\`${name}\` changes users, groups or permissions`);
  if (NETWORK_RAW.has(name)) return f.flag('network_exfiltration', `\`${name}\` opens a connection to another host`);
  if (DOWNLOADERS.has(name)) return downloader(name, args, f);
  if (FILE_WRITERS.has(name)) return fileWriter(name, args, f);
  f.opaque(`${where}\`${name}\`, which is not a program the gateway knows`);
}

/** Builtins that are refused by name, so the reason says so. */
const BUILTINS = new Set([
  'hash', 'alias', 'unalias', 'set', 'shopt', 'source', '.', 'eval', 'trap', 'enable', 'builtin', 'declare', 'typeset', 'local', 'readonly',
  'export', 'read', 'unset', 'umask', 'ulimit', 'history', 'fc', 'bind', 'complete', 'compgen', 'compopt', 'getopts', 'let', 'mapfile',
  'readarray', 'shift', 'wait', 'jobs', 'fg', 'bg', 'disown', 'suspend', 'logout', 'return', 'times', 'caller',
  'dirs', 'pushd', 'popd',
]);

function builtin(name: string, args: string[], f: Findings): void {
  if (name === 'printf' && args[0]?.startsWith('-')) return f.opaque('`printf` with an option (`-v` assigns a variable)');
  // bash's `test -v 'a[$(cmd)]'` evaluates the array subscript as arithmetic, which runs the
  // command substitution in it (so does `[ -v … ]`, whatever operators surround it).
  if ((name === 'test' || name === '[') && args.some((a) => a === '-v' || a === '-R')) {
    return f.opaque(`\`${name} -v\`/\`-R\` evaluate a variable name, whose array subscript bash evaluates as code`);
  }
  if (name === 'cd') {
    const r = parseOptions({ flags: 'LP' }, args, 'cd');
    if (!r.ok) return f.opaque(r.reason);
    if (r.args.operands.length > 1) f.opaque('`cd` with more than one directory');
    f.movedDirectory = true;
  }
  if ((name === 'break' || name === 'continue') && (args.length > 1 || (args[0] !== undefined && !/^[1-9]$/.test(args[0])))) f.opaque(`\`${name}\` with an unusual count`);
  if (name === 'exit' && (args.length > 1 || (args[0] !== undefined && !/^\d{1,3}$/.test(args[0])))) f.opaque('`exit` with an unusual status');
  if (name === 'type' && args.some((a) => a.startsWith('-'))) f.opaque('`type` with options');
}

/** `patterns`: arguments the target expands into file names (so the number of operands is unknown). */
function readProgram(name: string, args: string[], f: Findings, patterns: Set<string>): void {
  const spec = READ_PROGRAMS[name]!;
  const words = name === 'tar' ? tarOldStyle(args, spec.options.valued ?? '') : args;
  if (!words) return f.opaque('`tar` old-style options that take values lack them');
  const r = parseOptions(spec.options, words, name);
  if (!r.ok) return f.opaque(r.reason);
  const patterned = r.args.operands.filter((o) => patterns.has(o));
  if (patterned.length && !spec.appendSafe && !spec.codeOperand) {
    f.opaque(`the pattern \`${patterned[0]}\` makes the operands of \`${name}\` unknown, and they are not all inputs`);
  }
  if (spec.codeOperand && r.args.operands[0] !== undefined && patterns.has(r.args.operands[0])) {
    f.opaque(`the pattern \`${r.args.operands[0]}\` stands where \`${name}\` expects its program`);
  }
  for (const o of r.args.options) {
    const refusal = spec.refuse?.[o.name];
    if (refusal) {
      if (refusal[0] === 'opaque') f.opaque(refusal[1]);
      else f.flag(refusal[0], refusal[1]);
    }
    if (spec.outputs?.includes(o.name) && o.value !== undefined) f.writes(o.value, `\`${name} ${o.name}\` writes ${o.value}`);
  }
  spec.check?.(r.args, f);
}

/**
 * tar's old (bundled) options, `tar tfI ARCHIVE PROG`: each letter is an option of its own, and
 * each letter that takes a value takes the next word, in order — not the rest of the bundle, as
 * in `-tfI` (where `f` would take `I`). Spelled out as separate options for the table; letters not
 * in it stay unknown options and make the command opaque.
 */
function tarOldStyle(args: string[], valued: string): string[] | undefined {
  const bundle = args[0];
  if (bundle === undefined || !/^[a-zA-Z]+$/.test(bundle)) return args;
  const out: string[] = [];
  let next = 1;
  for (const c of bundle) {
    out.push(`-${c}`);
    if (!valued.includes(c)) continue;
    if (next >= args.length) return undefined;
    out.push(args[next++]!);
  }
  return [...out, ...args.slice(next)];
}

// Wrappers: each has an option table; the command after it is judged as if typed (and its words
// re-quoted in place, so the rebuilt text still runs it through the wrapper).
const WRAPPER_TABLES: Record<string, OptionTable> = {
  env: { flags: 'i0', valued: 'uCS', long: 'ignore-environment null unset= chdir= split-string=', stopAtOperand: true },
  nice: { valued: 'n', patterns: [/^-\d+$/], long: 'adjustment=', stopAtOperand: true },
  nohup: { stopAtOperand: true },
  timeout: { flags: 'v', valued: 'sk', long: 'preserve-status foreground kill-after= signal= verbose', stopAtOperand: true },
  command: { flags: 'pvV', stopAtOperand: true },
  exec: { flags: 'cl', valued: 'a', stopAtOperand: true },
  xargs: { flags: '0rtx', valued: 'dEILnPsa', long: 'null no-run-if-empty verbose exit delimiter= eof= replace= max-lines= max-args= max-procs= max-chars= arg-file=', stopAtOperand: true },
  sudo: { flags: 'bEHnPSk', valued: 'ugpChTrt', long: 'user= group= preserve-env? non-interactive stdin set-home chdir= prompt=', stopAtOperand: true },
  doas: { flags: 'n', valued: 'uC', stopAtOperand: true },
  su: { flags: 'lmpf', valued: 'cgGsw', patterns: [/^-$/], long: 'command= login shell= preserve-environment pty group= supp-group=', stopAtOperand: false },
};

function wrapper(name: string, argv: string[], f: Findings, next: (k: number, ctx: string) => void, depth: number, rewrite: Rewrite): void {
  const table = WRAPPER_TABLES[name];
  if (!table) {
    if (name === 'watch') return f.opaque('`watch` runs its arguments through a shell');
    return f.opaque(`\`${name}\` runs another command in ways the gateway does not follow`);
  }
  const args = argv.slice(1);
  const parsed = parseOptions(table, name === 'su' ? args.map((a) => (a === '-' ? '--login' : a)) : args, name);
  if (!parsed.ok) return f.opaque(parsed.reason);
  const a = parsed.args;
  let k = argv.length - a.operands.length; // index in argv of the first operand
  const ctx = `\`${name}\``;
  switch (name) {
    case 'env': {
      if (has(a, '-S', '--split-string')) return f.opaque('`env -S` splits a string into a command the gateway cannot see');
      if (has(a, '-u', '--unset', '-C', '--chdir', '-0', '--null')) return f.opaque('`env` with options other than `-i`');
      while (k < argv.length && /^[^=]+=/.test(argv[k]!)) {
        const variable = argv[k]!.slice(0, argv[k]!.indexOf('='));
        if (!ALLOWED_VARIABLES.test(variable)) return f.opaque(`\`env\` sets \`${variable}\`, which is not a variable the gateway allows`);
        k++;
      }
      if (k >= argv.length) return; // prints the environment
      return next(k, ctx);
    }
    case 'nice':
    case 'nohup':
      if (name === 'nohup') f.flag('file_write', '`nohup` writes nohup.out when its output is a terminal');
      if (k >= argv.length) return name === 'nice' ? undefined : f.opaque('`nohup` without a command');
      return next(k, ctx);
    case 'timeout':
      if (k + 1 >= argv.length) return f.opaque('`timeout` without a duration and a command');
      return next(k + 1, ctx);
    case 'command':
      if (has(a, '-v', '-V')) return; // only describes the names
      if (has(a, '-p')) return f.opaque('`command -p` searches a PATH of its own');
      if (k >= argv.length) return;
      return next(k, ctx);
    case 'exec':
      if (a.options.length) return f.opaque('`exec -a`/`-c`/`-l` are bash-only and change what the program sees');
      if (k >= argv.length) return f.opaque('`exec` without a command changes the shell\'s file descriptors for what follows');
      return next(k, ctx);
    case 'xargs': {
      if (k >= argv.length) return void f.binaries.push('echo'); // xargs runs /bin/echo by default
      const program = posix.basename(argv[k]!);
      const spec = READ_PROGRAMS[program];
      next(k, ctx);
      if (!spec?.appendSafe) f.opaque(`\`xargs\` passes words read from its input to \`${program}\`, whose options can write, execute or are not all known`);
      return;
    }
    case 'su': {
      // su runs the last `-c` it is given, with the shell `-s` names: any program at all.
      const commands = a.options.filter((o) => o.name === '-c' || o.name === '--command');
      if (commands.length > 1) return f.opaque('`su` with more than one `-c` runs only the last');
      if (has(a, '-s', '--shell')) return f.opaque('`su -s` runs the command with a program of the agent\'s choosing as the shell');
      const command = commands[0];
      if (!command?.value) return f.opaque('`su` opens a shell as another user');
      const at = argv.indexOf(command.value, 1);
      if (at < 0) return f.opaque('`su -c` with an attached command');
      const inner = inspectScript(command.value, f, depth + 1);
      rewrite(at, quote(inner));
      return;
    }
    default: // sudo, doas
      if (has(a, '-e', '-s', '-i')) return f.opaque(`\`${name}\` opens a shell or an editor`);
      if (k >= argv.length) return f.opaque(`\`${name}\` without a command`);
      return next(k, ctx);
  }
}

/** `sh -c GIT_GUARD git ARGS…`, the form the gateway forwards git in: judged as the git it runs. */
function guardedGit(argv: string[], words: StaticWord[], f: Findings, depth: number, upstream: string[], rewrite: Rewrite): void {
  // The guard's shell is the gateway's, not the agent's: the programs listed are those of the command judged.
  if (f.binaries.at(-1) === 'sh') f.binaries.pop();
  const at = f.argv.lastIndexOf(GIT_GUARD);
  if (at >= 2) f.argv.splice(at - 2, 3);
  f.guarded = true;
  try {
    examine(argv.slice(3), words.slice(3), f, depth, upstream, (i, t) => rewrite(i + 3, t), '`sh` with the git guard');
  } finally {
    f.guarded = false;
  }
}

function shell(name: string, args: string[], f: Findings, depth: number, upstream: string[], rewrite: Rewrite): void {
  if (args[0] === '-c' && args[1] !== undefined && args.length === 2 && ['sh', 'bash', 'dash'].includes(name)) {
    const inner = inspectScript(args[1], f, depth + 1);
    rewrite(2, quote(inner));
    return;
  }
  if (fromDownloader(upstream)) return f.flag('download_execute', `a download is piped into \`${name}\``);
  if (args[0] === '-c') return f.opaque(`\`${name} -c\` with extra arguments or options`);
  if (args.length) return f.opaque(`\`${name}\` runs a script file the gateway cannot inspect`);
  f.opaque(`\`${name}\` reads commands from its input`);
}

function fromDownloader(upstream: string[]): boolean {
  return upstream.some((p) => DOWNLOADERS.has(p) || NETWORK_RAW.has(p));
}

const operands = (args: string[]): string[] => args.filter((a) => !a.startsWith('-'));

export function isSystemPath(path: string): boolean {
  if (path.startsWith('~') && !path.startsWith('~/') && path !== '~') return true; // another user's home
  if (!path.startsWith('/')) return path.split('/').includes('..'); // cannot tell where it lands
  const p = posix.normalize(path);
  return p === '/' || SYSTEM_PATHS.some((s) => p === s || p.startsWith(`${s}/`));
}

function downloader(name: string, args: string[], f: Findings): void {
  f.flag('network_exfiltration', `\`${name}\` talks to another host`);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (['-o', '--output', '-O', '--output-document'].includes(a) && args[i + 1] && args[i + 1] !== '-') f.writes(args[++i]!, `\`${name} ${a}\` saves a download`);
  }
}

function fileWriter(name: string, args: string[], f: Findings): void {
  const paths = operands(args);
  const destinations = ['cp', 'mv', 'install', 'ln', 'rsync'].includes(name) ? paths.slice(-1) : name === 'chmod' || name === 'chown' || name === 'chgrp' ? paths.slice(1) : paths;
  if (destinations.length === 0) return f.flag('file_write', `\`${name}\` changes files`);
  for (const p of destinations) f.writes(p, `\`${name}\` changes ${p}`);
}
