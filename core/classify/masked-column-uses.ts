// Which of a statement's column uses (column-uses.ts) touch masked columns, named canonically
// (`schema.table.column`) for policy. What is masked is the target's business: column rules match
// names anywhere, and columns where detectors found sensitive values are learned per target (the
// gateway keeps them, see fargate-proxy's masked-columns.ts). A name counts as masked when a rule
// matches it, when any of the statement's tables has a masked column of that name, or when it is
// an output name made from a masked one. Resolving by name over all the statement's tables can
// report a column of another table with the same name: more, never less.
import type { ColumnUses } from '../model.js';
import { ANY_COLUMN } from './column-uses.js';
import { quoteName } from './relation-names.js';

/** What is masked on one target, for one session. */
export interface MaskedColumns {
  /** Canonical `schema.table` → names of its masked columns (rule matches and learned detector hits). */
  columnsOf(table: string): ReadonlySet<string> | undefined;
  /** A column rule masks every column of this name, wherever it is. */
  ruleMasks(column: string): boolean;
  /** Changes whenever what is masked changes: resolutions are remembered per version. */
  readonly version: number;
}

export interface MaskedColumnFacts {
  inPredicates: string[];
  transformed: string[];
}

export function maskedColumnFacts(uses: ColumnUses, tables: readonly string[], masked: MaskedColumns): MaskedColumnFacts {
  /** The masked columns one name stands for: canonical names where a table has it, the bare name for a rule match. */
  const direct = (name: string, out: Set<string>): void => {
    let found = false;
    for (const t of tables) {
      const cols = masked.columnsOf(t);
      if (!cols) continue;
      if (name === ANY_COLUMN) for (const c of cols) out.add(`${t}.${quoteName(c)}`);
      else if (cols.has(name)) {
        out.add(`${t}.${quoteName(name)}`);
        found = true;
      }
    }
    if (name !== ANY_COLUMN && !found && masked.ruleMasks(name)) out.add(quoteName(name));
  };
  /** A name and every name it is made from, through output names (a breadth-first walk: no blow-up on chains). */
  const aliases = new Map(uses.aliases);
  const all = (names: string[]): string[] => {
    const reached = new Set(names);
    const queue = [...names];
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      for (const source of aliases.get(name) ?? []) {
        if (!reached.has(source)) {
          reached.add(source);
          queue.push(source);
        }
      }
    }
    const out = new Set<string>();
    for (const name of reached) direct(name, out);
    return [...out].sort();
  };
  return { inPredicates: all(uses.predicates), transformed: all(uses.transformed) };
}
