// What a runtime that execs an argv with no shell in between (Kubernetes exec's `command`) is given
// for a command the gateway decided: the words of the command as the gateway rebuilt it, not the
// argv the agent sent — so that git runs through its guard and pagers are off, as on the SSH path.
// The rebuilt text is read back with bash's grammar; only one plain command whose every word is a
// known literal can become an argv. Anything that needs a shell to mean what was judged (an
// operator, a redirection, an assignment, a pattern or `~` left live) has no argv form: the caller
// refuses it rather than send the original.
import { parseBash, nodeType, type CallExpr } from './syntax.js';
import { staticWord } from './words.js';

export type ArgvForm = { ok: true; argv: string[] } | { ok: false; reason: string };

export function argvForm(rebuilt: string): ArgvForm {
  const parsed = parseBash(rebuilt);
  if (!parsed.ok) return { ok: false, reason: `does not read back as a command (${parsed.error})` };
  const { Stmts: stmts, Last: last } = parsed.file;
  if (stmts.length !== 1 || last.length > 0) return { ok: false, reason: 'is not one plain command' };
  const stmt = stmts[0]!;
  if (stmt.Negated || stmt.Background || stmt.Coprocess || stmt.Comments.length > 0) return { ok: false, reason: 'is not one plain command' };
  if (stmt.Redirs.length > 0) return { ok: false, reason: 'redirects, which needs a shell' };
  if (!stmt.Cmd || nodeType(stmt.Cmd) !== 'CallExpr') return { ok: false, reason: 'is not one plain command' };
  const call = stmt.Cmd as CallExpr;
  if (call.Assigns.length > 0) return { ok: false, reason: 'sets variables, which needs a shell' };
  if (call.Args.length === 0) return { ok: false, reason: 'names no program' };
  const argv: string[] = [];
  for (const arg of call.Args) {
    const w = staticWord(arg);
    if (!w.ok) return { ok: false, reason: `has a word that ${w.reason}` };
    if (w.word.pattern || w.word.tilde || w.word.params || w.word.bound) return { ok: false, reason: `has a word a shell would expand (${w.word.shell})` };
    argv.push(w.word.value);
  }
  return { ok: true, argv };
}
