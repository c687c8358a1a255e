// How relation names are written in inspection results and in policy. PostgreSQL folds unquoted
// identifiers to lower case and keeps quoted ones exactly, so `Users`, `users` and `"users"` are one
// table and `"Users"` another: names are kept exactly as the parser produced them, and written
// back quoted only where a plain spelling would be ambiguous (upper case, spaces, dots, quotes).

/** A name as PostgreSQL would print it in a qualified name: plain when it is a simple lower-case identifier. */
export function quoteName(name: string): string {
  // Non-ASCII letters are identifier characters that case folding leaves alone.
  return /^[a-z_\u0080-\uffff][a-z0-9_$\u0080-\uffff]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** `schema.name`, each part quoted only where needed; `name` alone when unqualified. */
export function qualifiedName(schema: string | undefined, name: string): string {
  return schema === undefined ? quoteName(name) : `${quoteName(schema)}.${quoteName(name)}`;
}

/** The inverse of qualifiedName: splits on dots outside double quotes and unquotes each part. */
export function splitQualifiedName(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        current += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else current += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === '.') {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

/**
 * A RangeVar as written, in the form above. The catalog (database) part of a three-part name is
 * dropped: PostgreSQL accepts it only when it names the current database and refuses it otherwise.
 * A relation made with CREATE TEMP and no schema lives in `pg_temp`.
 */
export function writtenRelationName(rv: { schemaname?: unknown; relname?: unknown; relpersistence?: unknown }): string {
  const name = typeof rv.relname === 'string' ? rv.relname : '?';
  const schema = typeof rv.schemaname === 'string' && rv.schemaname !== '' ? rv.schemaname : rv.relpersistence === 't' ? 'pg_temp' : undefined;
  return qualifiedName(schema, name);
}
