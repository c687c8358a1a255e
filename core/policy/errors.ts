import type { DetailedError } from '@cedar-policy/cedar-wasm/nodejs';

/** A policy set (or its schema) that cannot be used; `errors` lists every problem found, one sentence each. */
export class PolicyError extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    super(`invalid policy set (${errors.length} error${errors.length === 1 ? '' : 's'}):\n  ${errors.join('\n  ')}`);
    this.name = 'PolicyError';
    this.errors = errors;
  }
}

/** 1-based line and column of a Cedar source offset. Cedar reports UTF-8 byte offsets, not JS string indices. */
export function lineAndColumn(text: string, byteOffset: number): { line: number; column: number } {
  const before = Buffer.from(text, 'utf8').subarray(0, byteOffset).toString('utf8');
  const lastNewline = before.lastIndexOf('\n');
  const line = before.split('\n').length;
  return { line, column: before.length - lastNewline };
}

/**
 * One readable line per Cedar error: `where line L, column C: message (help)`.
 * `rename` maps Cedar's positional policy ids (`policy3`) to the authors' `@id`s.
 */
export function describeCedarError(
  error: DetailedError,
  source: { label: string; text: string },
  rename: (message: string) => string = (m) => m,
): string {
  const at = error.sourceLocations?.[0];
  let where = source.label;
  if (at) {
    const { line, column } = lineAndColumn(source.text, at.start);
    where += ` line ${line}, column ${column}`;
  }
  const detail = at?.label ? ` (${at.label})` : '';
  const help = error.help ? ` — ${rename(error.help)}` : '';
  return `${where}: ${rename(error.message)}${detail}${help}`;
}
