// The only module that knows libpg-query: it loads the WASM parser once, parses synchronously,
// turns the parser's byte offsets into statement texts, and turns parse errors into messages
// that help the agent without echoing its statement (which may carry secrets).
import { loadModule, parseSync, scanSync, hasSqlDetails } from 'libpg-query';

/** One top-level statement: its parse tree (a `{ NodeType: {...} }` object) and its own text. */
export interface ParsedStatement {
  node: Record<string, unknown>;
  text: string;
}

export type ParseOutcome = { ok: true; statements: ParsedStatement[] } | { ok: false; error: string };

let loaded: Promise<void> | undefined;

export function loadParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

export function parseStatements(sql: string): ParseOutcome {
  // The wire protocol cannot carry NUL and the parser would stop at one: refuse rather than
  // inspect a prefix of what the server might see.
  if (sql.includes('\0')) return { ok: false, error: 'statement contains a NUL character' };
  let tree: { stmts?: Array<{ stmt?: Record<string, unknown>; stmt_location?: number; stmt_len?: number }> };
  try {
    tree = parseSync(sql) as typeof tree;
  } catch (err) {
    return { ok: false, error: describeParseError(err) };
  }
  const source = new Utf8Source(sql);
  const statements: ParsedStatement[] = [];
  for (const raw of tree.stmts ?? []) {
    if (!raw.stmt) continue;
    // The parser omits zero-valued fields: no location means 0, no length means "to the end".
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? start + raw.stmt_len : undefined;
    statements.push({ node: raw.stmt, text: source.slice(start, end).trim() });
  }
  return { ok: true, statements };
}

/** Text of a PREPARE statement's body: everything after its first reserved `AS`. */
export function prepareBodyText(prepareText: string): string {
  try {
    const as = scanSync(prepareText).tokens.find((t) => t.keywordKind === 4 && t.text.toLowerCase() === 'as');
    if (as) return new Utf8Source(prepareText).slice(as.end).trim();
  } catch {
    // fall through: the whole statement is a truthful, if longer, description
  }
  return prepareText;
}

const MAX_ECHO = 32;

function describeParseError(err: unknown): string {
  if (!hasSqlDetails(err) || !err.sqlDetails) {
    const message = err instanceof Error ? err.message : String(err);
    // Messages without details come from the module itself (e.g. "Query cannot be empty"), never
    // from the statement; still, keep them to one short line.
    return `SQL could not be parsed: ${message.split('\n')[0]?.slice(0, 200) ?? 'unknown error'}`;
  }
  const { message, cursorPosition } = err.sqlDetails;
  // `at or near "<rest of an unterminated literal>"` can carry a password or a whole statement:
  // keep the fragment only when it is a short bare token.
  const safe = message.replace(/ at or near "(.*)"$/s, (_m, near: string) =>
    near.length <= MAX_ECHO && /^[\w.$*=<>!%^&|+\-/(),;:@#~?[\]]+$/.test(near) && !near.startsWith('$')
      ? ` at or near "${near}"`
      : '',
  );
  return `SQL could not be parsed: ${safe} (at byte ${cursorPosition})`;
}

/** Slices a JS string by UTF-8 byte offsets, the unit the parser reports positions in. */
class Utf8Source {
  private bytes: Buffer | undefined;
  constructor(private readonly text: string) {
    // eslint-disable-next-line no-control-regex
    if (/[^\x00-\x7f]/.test(text)) this.bytes = Buffer.from(text, 'utf8');
  }
  slice(start: number, end?: number): string {
    if (!this.bytes) return this.text.slice(start, end);
    return this.bytes.subarray(start, end).toString('utf8');
  }
}
