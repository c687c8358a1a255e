// Masking of response bodies as they stream: JSON (and NDJSON, the same grammar with newlines
// between values) token by token, server-sent events and text line by line. Memory is bounded by
// the longest token or line kept (`maxToken`); past it the piece is masked as it stands.
// JSON values are masked per key: the key names a "column" for core/mask's column rules
// (`{pattern: "ssn", style: "redact"}` masks every "ssn" value), detectors do the rest.
import type { ColumnPlan, Masker } from '../../../../core/mask/index.js';

export interface TextMasker {
  /** Masked output for this piece of decoded text (possibly empty: the tail of an open token is held). */
  push(text: string): string;
  /** The rest, at the end of the body. */
  end(): string;
}

export type BodyKind = 'json' | 'sse' | 'text';

/** Which masker a media type gets; undefined: the gateway cannot inspect it. */
export function bodyKindOf(mediaType: string): BodyKind | undefined {
  if (mediaType === 'application/json' || mediaType.endsWith('+json') || mediaType === 'application/x-ndjson' || mediaType === 'application/ndjson' || mediaType === 'application/jsonl' || mediaType === 'application/json-seq') return 'json';
  if (mediaType === 'text/event-stream') return 'sse';
  if (mediaType.startsWith('text/') || mediaType === 'application/xml' || mediaType.endsWith('+xml') || mediaType === 'application/x-www-form-urlencoded' || mediaType === 'application/javascript') return 'text';
  return undefined;
}

export function createTextMasker(kind: BodyKind, masker: Masker, maxToken: number): TextMasker {
  if (kind === 'json') return new JsonMasker(masker, maxToken);
  return new LineMasker(masker, maxToken, kind === 'sse' ? (line) => maskSseLine(line, masker, maxToken) : (line) => masker.maskText(line) ?? line);
}

/** Text and SSE: complete lines are masked and released at once (an SSE event is never held back). */
class LineMasker implements TextMasker {
  private pending = '';
  constructor(
    private readonly masker: Masker,
    private readonly maxToken: number,
    private readonly maskLine: (line: string) => string,
  ) {}

  push(text: string): string {
    this.pending += text;
    let out = '';
    let nl = this.pending.indexOf('\n');
    while (nl >= 0) {
      out += this.maskLine(this.pending.slice(0, nl)) + '\n';
      this.pending = this.pending.slice(nl + 1);
      nl = this.pending.indexOf('\n');
    }
    if (this.pending.length > this.maxToken) {
      out += this.masker.maskText(this.pending) ?? this.pending;
      this.pending = '';
    }
    return out;
  }

  end(): string {
    const rest = this.pending;
    this.pending = '';
    return rest === '' ? '' : this.maskLine(rest);
  }
}

/** `data:` lines holding JSON are masked as JSON (by key), other field values as text. */
function maskSseLine(line: string, masker: Masker, maxToken: number): string {
  const colon = line.indexOf(':');
  if (colon <= 0) return line; // comments (":…") and blank lines carry no data
  const field = line.slice(0, colon);
  const value = line.slice(colon + 1);
  if (field === 'data') {
    const trimmed = value.trimStart();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      const json = new JsonMasker(masker, maxToken);
      return `${field}:${json.push(value)}${json.end()}`;
    }
  }
  const masked = masker.maskText(value);
  return masked === undefined ? line : `${field}:${masked}`;
}

interface Frame {
  kind: 'object' | 'array';
  /** The key whose value this container is (inherited by an array's elements). */
  key: string;
  /** In an object: the next string is a key. */
  expectKey: boolean;
  /** In an object: the key of the value being read. */
  currentKey: string;
}

const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
const STRUCTURAL = new Set(['{', '}', '[', ']', ':', ',', ' ', '\t', '\r', '\n']);

/**
 * A streaming JSON tokenizer that rewrites string and scalar values. It is lenient on purpose: text
 * that is not JSON still has every run of non-structural characters masked, so a malformed body
 * cannot smuggle a value past the detectors.
 */
class JsonMasker implements TextMasker {
  private readonly stack: Frame[] = [];
  private readonly plans = new Map<string, ColumnPlan>();
  private mode: 'outside' | 'string' | 'scalar' = 'outside';
  private token = '';
  private escaped = false;
  /** Part of the current string was already released (it was longer than maxToken). */
  private split = false;
  /** Set at the first bare word that is not JSON: the rest of the body is masked as text, by line. */
  private fallback: LineMasker | undefined;

  constructor(
    private readonly masker: Masker,
    private readonly maxToken: number,
  ) {}

  push(text: string): string {
    let out = '';
    let i = 0;
    while (i < text.length) {
      if (this.fallback) return out + this.fallback.push(text.slice(i));
      if (this.mode === 'string') {
        // Find the closing quote, honouring escapes.
        let j = i;
        for (; j < text.length; j++) {
          const c = text.charCodeAt(j);
          if (this.escaped) this.escaped = false;
          else if (c === 0x5c) this.escaped = true;
          else if (c === 0x22) break;
        }
        if (j === text.length) {
          this.token += text.slice(i);
          if (this.token.length > this.maxToken && !this.escaped) out += this.releaseLongString();
          return out;
        }
        this.token += text.slice(i, j + 1);
        out += this.finishString();
        i = j + 1;
        continue;
      }
      if (this.mode === 'scalar') {
        let j = i;
        while (j < text.length && !STRUCTURAL.has(text[j]!) && text[j] !== '"') j++;
        this.token += text.slice(i, j);
        if (j === text.length) {
          if (this.token.length > this.maxToken) out += this.finishScalar();
          return out;
        }
        out += this.finishScalar();
        i = j;
        continue;
      }
      const ch = text[i]!;
      if (ch === '"') {
        this.mode = 'string';
        this.token = '"';
        this.escaped = false;
        this.split = false;
        i++;
        continue;
      }
      if (!STRUCTURAL.has(ch)) {
        this.mode = 'scalar';
        this.token = '';
        continue;
      }
      this.structural(ch);
      // Whitespace and punctuation are released as they come, in runs.
      let j = i + 1;
      while (j < text.length && STRUCTURAL.has(text[j]!)) this.structural(text[j++]!);
      out += text.slice(i, j);
      i = j;
    }
    return out;
  }

  end(): string {
    if (this.fallback) return this.fallback.end();
    if (this.mode === 'string') {
      // An unterminated string: mask what is there as text.
      const t = this.token;
      this.token = '';
      this.mode = 'outside';
      return this.masker.maskText(t) ?? t;
    }
    if (this.mode === 'scalar') return this.finishScalar();
    return '';
  }

  private structural(ch: string): void {
    const top = this.stack[this.stack.length - 1];
    switch (ch) {
      case '{':
      case '[':
        this.stack.push({ kind: ch === '{' ? 'object' : 'array', key: top ? this.valueKey(top) : '', expectKey: ch === '{', currentKey: '' });
        break;
      case '}':
      case ']':
        this.stack.pop();
        break;
      case ',':
        if (top?.kind === 'object') top.expectKey = true;
        break;
      case ':':
        if (top?.kind === 'object') top.expectKey = false;
        break;
    }
  }

  private valueKey(top: Frame): string {
    return top.kind === 'object' ? top.currentKey : top.key;
  }

  private plan(key: string): ColumnPlan {
    let p = this.plans.get(key);
    if (!p) {
      p = this.masker.planColumns([key]);
      if (this.plans.size < 1024) this.plans.set(key, p);
    }
    return p;
  }

  private finishString(): string {
    const raw = this.token;
    this.token = '';
    this.mode = 'outside';
    const top = this.stack[this.stack.length - 1];
    if (this.split) {
      // The start was released already: mask the rest as text.
      return this.masker.maskText(raw) ?? raw;
    }
    let value: string;
    try {
      value = JSON.parse(raw) as string;
    } catch {
      return this.masker.maskText(raw) ?? raw;
    }
    if (top?.kind === 'object' && top.expectKey) {
      top.currentKey = value;
      return raw;
    }
    const masked = this.masker.maskCell(value, this.plan(top ? this.valueKey(top) : ''), 0);
    return masked === undefined ? raw : JSON.stringify(masked);
  }

  /** A string longer than maxToken: released in masked pieces, its key rules no longer apply. */
  private releaseLongString(): string {
    const piece = this.token;
    this.token = '';
    this.split = true;
    return this.masker.maskText(piece) ?? piece;
  }

  private finishScalar(): string {
    const raw = this.token;
    this.token = '';
    this.mode = 'outside';
    if (raw === 'true' || raw === 'false' || raw === 'null') return raw;
    if (!JSON_NUMBER.test(raw)) {
      // Not JSON: a value split by spaces ("4111 1111 …") would pass word by word, so read on as text.
      this.fallback = new LineMasker(this.masker, this.maxToken, (line) => this.masker.maskText(line) ?? line);
      return this.fallback.push(raw);
    }
    const top = this.stack[this.stack.length - 1];
    const masked = this.masker.maskCell(raw, this.plan(top ? this.valueKey(top) : ''), 0);
    if (masked === undefined) return raw;
    return /^-?[0-9]+(\.[0-9]+)?$/.test(masked) ? masked : JSON.stringify(masked);
  }
}
