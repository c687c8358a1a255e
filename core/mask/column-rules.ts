// Column rules: case-insensitive globs on column names (`ssn`, `card_*`, `*_token`) that mask a
// column whatever its content. First matching rule wins.
import type { ColumnRule, MaskStyle } from './types.js';

export type ColumnMatcher = (columnName: string) => MaskStyle | undefined;

export function compileColumnRules(rules: ColumnRule[]): ColumnMatcher {
  const compiled = rules.map((rule) => ({ regex: globToRegExp(rule.pattern), style: rule.style }));
  return (name) => compiled.find((c) => c.regex.test(name))?.style;
}

/** `*` → any run, `?` → one character, everything else literal. Names are short, so `.*` is cheap. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const ch of glob) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else source += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'is');
}
