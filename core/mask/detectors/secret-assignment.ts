// Secrets assigned to a telling name: `password=...`, `DB_PASSWORD: ...`, `"api_key": "..."`,
// `Authorization: Bearer ...`, escaped JSON inside JSON (`\"token\": \"...\"`).
// Only the value is reported. Names are matched on their normalised form (lower case, without
// `_`, `-`, `.`), by suffix, so `db_password`, `GITHUB_TOKEN` and `clientSecret` all qualify while
// `password_hash`, `token_type` and `max_tokens` don't.
import { charTests } from '../chars.js';
import type { Finding } from '../types.js';

const { isAlnum } = charTests;

const STEMS = /pass|pwd|secret|token|key|credential|authorization/gi;

const SECRET_SUFFIXES = [
  'password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'secretkey', 'privatekey',
  'accesskey', 'signingkey', 'encryptionkey', 'masterkey', 'credentials', 'credential', 'authorization', 'pwd',
];
const SECRET_EXACT = new Set(['pass', 'pw']);
// Shell working directories, not passwords.
const NOT_SECRET = new Set(['pwd', 'oldpwd']);

const NOT_VALUES = new Set(['', 'null', 'none', 'nil', 'true', 'false', 'undefined', 'n/a', 'required', 'optional']);
const AUTH_SCHEMES = new Set(['bearer', 'basic', 'token', 'digest']);
const MAX_NAME = 64;
const MAX_VALUE = 1024;

const isNameChar = (c: number): boolean => isAlnum(c) || c === 95 || c === 45 || c === 46;

export function isSecretName(name: string): boolean {
  const n = name.toLowerCase().replace(/[-_.]/g, '');
  if (NOT_SECRET.has(n)) return false;
  return SECRET_EXACT.has(n) || SECRET_SUFFIXES.some((s) => n.endsWith(s));
}

export function findSecretAssignments(text: string, out: Finding[]): void {
  let lastNameEnd = -1;
  for (const m of text.matchAll(STEMS)) {
    if (m.index < lastNameEnd) continue;
    let s = m.index;
    while (s > 0 && m.index - s < MAX_NAME && isNameChar(text.charCodeAt(s - 1))) s--;
    let e = m.index + m[0].length;
    while (e < text.length && e - s < MAX_NAME && isNameChar(text.charCodeAt(e))) e++;
    lastNameEnd = e;
    if (!isSecretName(text.slice(s, e))) continue;
    const value = valueAfter(text, e);
    if (value) {
      out.push({ detector: 'secret_assignment', start: value.start, end: value.end });
      lastNameEnd = value.end; // names inside a value are part of the value: keeps the scan linear
    }
  }
}

function valueAfter(text: string, nameEnd: number): { start: number; end: number } | undefined {
  let i = nameEnd;
  // Closing quote of a quoted name, possibly escaped (JSON inside a JSON string).
  if (text[i] === '\\' && (text[i + 1] === '"' || text[i + 1] === "'")) i += 2;
  else if (text[i] === '"' || text[i] === "'") i++;
  i = skipSpaces(text, i);
  if (text[i] === ':' && text[i + 1] === '=') i += 2;
  else if (text[i] === '=' && text[i + 1] === '>') i += 2;
  else if (text[i] === '=' && text[i + 1] !== '=') i++;
  else if (text[i] === ':' && text[i + 1] !== ':') i++;
  else return undefined;
  i = skipSpaces(text, i);

  let v = readValue(text, i);
  if (!v) return undefined;
  // "Authorization: Bearer <token>": the scheme is not the secret, the credential after it is.
  const word = text.slice(v.start, v.end).toLowerCase();
  if (AUTH_SCHEMES.has(word) && text[v.end] === ' ') v = readValue(text, v.end + 1);
  if (!v || !plausibleSecret(text.slice(v.start, v.end))) return undefined;
  return v;
}

function skipSpaces(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  return i;
}

function readValue(text: string, i: number): { start: number; end: number } | undefined {
  if (text[i] === '\\' && (text[i + 1] === '"' || text[i + 1] === "'")) {
    return { start: i + 2, end: escapedStringEnd(text, i + 2, text[i + 1]!) };
  }
  const q = text[i];
  if (q === '"' || q === "'" || q === '`') {
    let j = i + 1;
    while (j < text.length && j - i < MAX_VALUE && text[j] !== q && text[j] !== '\n') {
      j += text[j] === '\\' && q === '"' ? 2 : 1;
    }
    return { start: i + 1, end: Math.min(j, text.length) };
  }
  let j = i;
  while (j < text.length && j - i < MAX_VALUE && !endsUnquoted(text, j)) j += text[j] === '\\' ? 2 : 1;
  return { start: i, end: j };
}

function endsUnquoted(text: string, j: number): boolean {
  const c = text[j]!;
  if (c === '\\') return text[j + 1] !== '\\'; // an escaped quote or newline of the enclosing JSON string
  return ' \t\r\n,;&}])"\'<>`'.includes(c);
}

/**
 * End of a string literal that is itself escaped inside an outer JSON string: read the text as
 * outer-level units (`\\x` is one unit), where an inner backslash unit escapes the next unit and an
 * unescaped quote unit closes the literal.
 */
function escapedStringEnd(text: string, from: number, quote: string): number {
  let j = from;
  while (j < text.length && j - from < MAX_VALUE) {
    const unit = text[j] === '\\' ? text[j + 1] : text[j];
    const width = text[j] === '\\' ? 2 : 1;
    if (unit === quote && width === 2) return j;
    if (unit === '\\' && width === 2) j += text[j + 2] === '\\' ? 4 : 3; // inner escape: skip the escaped unit
    else j += width;
  }
  return Math.min(j, text.length);
}

function plausibleSecret(value: string): boolean {
  if (NOT_VALUES.has(value.toLowerCase())) return false;
  // References and placeholders, not secrets: ${VAR}, $(cmd), {{ var }}, <password>, ****, already masked.
  if (/^(?:\$\{|\$\(|\{\{|<|\[REDACTED|\[TOKEN)/.test(value)) return false;
  return !/^[*x•]+$/i.test(value);
}
