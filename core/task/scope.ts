// Task scopes as written (`read`, `write`, `write:orders`) and as policy sees them.
import type { TaskScope } from './types.js';

const TABLE = /^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)?$/;

/** Canonical `schema.table`, as the PostgreSQL inspection reports tables: unqualified names are `public.`. */
export function canonicalTable(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.includes('.') ? lower : `public.${lower}`;
}

/** Parses scope strings; throws Error naming the bad entry. */
export function parseScope(entries: readonly string[]): TaskScope {
  const out = new Set<string>();
  let read = false;
  const writeTables = new Set<string>();
  for (const raw of entries.flatMap((e) => e.split(','))) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (entry === 'read') {
      read = true;
      out.add('read');
      continue;
    }
    if (entry === 'write') {
      read = true;
      writeTables.add('*');
      out.add('write');
      continue;
    }
    const m = /^write:(.+)$/.exec(entry);
    if (m && TABLE.test(m[1]!.toLowerCase())) {
      const table = canonicalTable(m[1]!);
      read = true;
      writeTables.add(table);
      out.add(`write:${table}`);
      continue;
    }
    throw new Error(`scope entry "${entry}" is not read, write or write:<table>`);
  }
  if (out.size === 0) throw new Error('a task needs a scope (read, write, write:<table>)');
  return { entries: [...out].sort(), read, writeTables: [...writeTables].sort() };
}

/** Does the scope let a statement of this kind touch these tables? (Policy decides; this names what to ask for.) */
export function scopeCovers(scope: TaskScope, access: 'read' | 'write', tables: readonly string[]): boolean {
  if (access === 'read') return scope.read;
  if (scope.writeTables.includes('*')) return true;
  return tables.length > 0 && tables.every((t) => scope.writeTables.includes(t));
}

/** The scope entries that would cover a refused write (for the refusal's `next.taskScope`). */
export function scopeToAsk(access: 'read' | 'write', tables: readonly string[]): string[] {
  if (access === 'read') return ['read'];
  return tables.length > 0 ? tables.map((t) => `write:${t}`) : ['write'];
}
