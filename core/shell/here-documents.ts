// Here-documents and here-strings: text a command reads on its input. A quoted delimiter
// (`<<'EOF'`) makes the body plain data; an unquoted one lets bash expand parameters, arithmetic and
// command substitutions in it, and those substitutions are commands, judged like any other. The
// gateway writes every document back as a plain `<<` document with a delimiter no line of it
// equals — quoted when nothing in it expands — so the target reads exactly the body judged. A
// here-string (bash only; the target's sh has none) becomes the document bash makes of it: the
// word's value and a newline.
import { nodeType, type ArithmExp, type CmdSubst, type DblQuoted, type Lit, type Node, type ParamExp, type Redirect, type SglQuoted, type Word } from './syntax.js';
import { REDIRECT } from './syntax.js';
import { staticWord } from './words.js';

export type HereText =
  /** `operator`: the redirect as rebuilt (`<<'AIRLOCK_EOF'`); `body`: its lines and delimiter line, for after the command's line. */
  | { ok: true; operator: string; body: string }
  | { ok: false; reason: string };

/** Judges and rebuilds a `$( … )` found in a document (its commands are the caller's to judge). */
export type Substitute = (c: CmdSubst) => string;

/** Arithmetic on numbers alone: nothing in it names a variable (whose value bash would evaluate as code). */
const LITERAL_ARITHMETIC = /^[\d\s+\-*/%()<>=!&|^~?:]*$/;

class Document {
  /** The body's value where nothing expands. */
  #value = '';
  /** The body as an unquoted document: literal text escaped, expansions live. */
  #escaped = '';
  #expands = false;

  literal(text: string): void {
    this.#value += text;
    this.#escaped += text.replace(/[\\$`]/g, '\\$&');
  }
  expansion(shell: string): void {
    this.#expands = true;
    this.#escaped += shell;
  }
  done(): HereText {
    const body = this.#expands ? this.#escaped : this.#value;
    if (body !== '' && !body.endsWith('\n')) return { ok: false, reason: 'a here-document whose body does not end with a line break cannot be rebuilt' };
    const lines = new Set(body.split('\n'));
    let delimiter = 'AIRLOCK_EOF';
    for (let n = 1; lines.has(delimiter); n++) delimiter = `AIRLOCK_EOF_${n}`;
    return { ok: true, operator: `<<${this.#expands ? delimiter : `'${delimiter}'`}`, body: `${body}${delimiter}\n` };
  }
}

function param(p: ParamExp): string | undefined {
  if (p.Excl || p.Length || p.Width || p.Index || p.Slice || p.Repl || p.Exp || p.Names) return undefined;
  const name = p.Param?.Value ?? '';
  return /^([A-Za-z_][A-Za-z0-9_]*|[?#$!@*0-9-])$/.test(name) ? name : undefined;
}

/** An expansion bash performs in a document or here-string: its rebuilt form, or why it is refused. */
function expansion(part: Node, substitute: Substitute): { shell: string } | { reason: string } {
  const type = nodeType(part);
  if (type === 'ParamExp') {
    const name = param(part as ParamExp);
    // Only printed into the input: a plain parameter's value cannot act.
    return name === undefined ? { reason: 'holds a parameter expansion with an operator (it can assign or run code)' } : { shell: `\${${name}}` };
  }
  if (type === 'CmdSubst') return { shell: `$(${substitute(part as CmdSubst)})` };
  if (type === 'ArithmExp') {
    const a = part as ArithmExp;
    if (a.Bracket || !LITERAL_ARITHMETIC.test(a.Source)) return { reason: 'holds arithmetic on variables (bash evaluates their values as code)' };
    return { shell: `$((${a.Source}))` };
  }
  return { reason: `holds ${type}` };
}

/** `<<WORD` and `<<-WORD`. */
export function hereDocument(r: Redirect, substitute: Substitute): HereText {
  const d = staticWord(r.Word);
  if (!d.ok || d.word.pattern || d.word.tilde) return { ok: false, reason: 'a here-document delimiter that is not a plain word' };
  const quoted = r.Word.Parts.some((p) => nodeType(p) !== 'Lit' || (p as Lit).Value.includes('\\'));
  const stripTabs = r.Op === REDIRECT.dashHdoc;
  const doc = new Document();
  let lineStart = true;
  for (const part of r.Hdoc?.Parts ?? []) {
    if (nodeType(part) === 'Lit') {
      let raw = (part as Lit).Value;
      if (stripTabs) raw = raw.replace(lineStart ? /(^|\n)\t+/g : /(\n)\t+/g, '$1');
      lineStart = raw.endsWith('\n');
      // Unquoted, a backslash escapes only `$`, `` ` ``, `\` and a line break.
      doc.literal(quoted ? raw : raw.replace(/\\([$`\\\n])/g, (_m, c: string) => (c === '\n' ? '' : c)));
      continue;
    }
    lineStart = false;
    if (quoted) return { ok: false, reason: `a quoted here-document holds ${nodeType(part)}` };
    // Bash ends the document at the first line equal to the delimiter, even one inside a `$( … )`
    // or `$(( … ))` mvdan/sh is still reading: such a body means something else to bash.
    const written = (part as Partial<CmdSubst & ArithmExp>).Source ?? '';
    if (written.split('\n').some((line) => (stripTabs ? line.replace(/^\t+/, '') : line) === d.word.value)) {
      return { ok: false, reason: `a here-document holds its delimiter line \`${d.word.value}\` inside an expansion, where bash would end it` };
    }
    const e = expansion(part, substitute);
    if ('reason' in e) return { ok: false, reason: `a here-document ${e.reason}` };
    doc.expansion(e.shell);
  }
  return doc.done();
}

/** `<<<WORD`: bash expands the word (no field splitting, no file name patterns) and adds a newline. */
export function hereString(word: Word, substitute: Substitute): HereText {
  const doc = new Document();
  const parts = word.Parts;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    const type = nodeType(part);
    if (type === 'Lit') {
      const text = (part as Lit).Value;
      if (p === 0 && text.startsWith('~')) return { ok: false, reason: 'a here-string starts with `~`, which bash expands' };
      doc.literal(text.replace(/\\(.)/gs, (_m, c: string) => (c === '\n' ? '' : c)));
    } else if (type === 'SglQuoted') {
      const q = part as SglQuoted;
      if (q.Dollar) return { ok: false, reason: "a here-string holds $'…' escapes" };
      doc.literal(q.Value);
    } else if (type === 'DblQuoted') {
      const q = part as DblQuoted;
      if (q.Dollar) return { ok: false, reason: 'a here-string holds a $"…" locale string' };
      for (const inner of q.Parts) {
        if (nodeType(inner) === 'Lit') {
          doc.literal((inner as Lit).Value.replace(/\\([$`"\\\n])/g, (_m, c: string) => (c === '\n' ? '' : c)));
          continue;
        }
        const e = expansion(inner, substitute);
        if ('reason' in e) return { ok: false, reason: `a here-string ${e.reason}` };
        doc.expansion(e.shell);
      }
    } else {
      const e = expansion(part, substitute);
      if ('reason' in e) return { ok: false, reason: `a here-string ${e.reason}` };
      doc.expansion(e.shell);
    }
  }
  doc.literal('\n');
  return doc.done();
}
