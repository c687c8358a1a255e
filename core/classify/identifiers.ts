// Identifiers the server reads out of strings rather than out of SQL text: the elements of a
// search_path, and a relation named in a `regclass` string (`nextval('app.orders_id_seq')`).
// PostgreSQL reads both with SplitIdentifierString (src/backend/utils/adt/varlena.c): quoted parts
// kept exactly, unquoted ones folded to lower case (ASCII only, as in a UTF-8 database), and every
// part truncated to NAMEDATALEN - 1 bytes — the same truncation the SQL scanner applies to
// identifiers, so a long name written in a string means the same relation or schema as its first
// 63 bytes do.

/** NAMEDATALEN - 1: the most bytes an identifier keeps. */
const MAX_IDENTIFIER_BYTES = 63;

/** PostgreSQL's truncate_identifier for UTF-8: at most 63 bytes, never splitting a character. */
export function truncateIdentifier(name: string): string {
  if (Buffer.byteLength(name, 'utf8') <= MAX_IDENTIFIER_BYTES) return name;
  let bytes = 0;
  let out = '';
  for (const ch of name) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > MAX_IDENTIFIER_BYTES) break;
    bytes += n;
    out += ch;
  }
  return out;
}

/** The scanner's whitespace (scanner_isspace). */
const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';

/**
 * SplitIdentifierString: `text` as a list of identifiers separated by `separator`, or undefined
 * where PostgreSQL would refuse it (unterminated or empty quotes, an empty unquoted part, junk
 * after a part). An empty or all-blank text is an empty list.
 */
export function splitIdentifierString(text: string, separator: string): string[] | undefined {
  const names: string[] = [];
  let i = 0;
  while (isSpace(text[i])) i++;
  if (i >= text.length) return names;
  for (;;) {
    let name = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) return undefined;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            name += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += text[i++];
      }
      if (name === '') return undefined;
    } else {
      while (i < text.length && text[i] !== separator && !isSpace(text[i])) name += text[i++];
      if (name === '') return undefined;
      name = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
    }
    names.push(truncateIdentifier(name));
    while (isSpace(text[i])) i++;
    if (i >= text.length) return names;
    if (text[i] !== separator) return undefined;
    i++;
    while (isSpace(text[i])) i++;
  }
}

/**
 * The relation a `regclass` input string names, as `[schema, name]` or `[name]` (a catalog part is
 * dropped, as for a written relation); undefined when it names none by name: a numeric OID, `-`,
 * or text PostgreSQL would refuse.
 */
export function regclassTextName(text: string): string[] | undefined {
  if (text === '-' || /^[0-9]+$/.test(text)) return undefined;
  const parts = splitIdentifierString(text, '.');
  if (parts === undefined || parts.length === 0 || parts.length > 3) return undefined;
  return parts.slice(-2);
}
