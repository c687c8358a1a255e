// Command-line options read the way getopt/getopt_long read them, against a program's table of
// the options it really has: which exist, which take a value (attached or as the next word), and
// which long ones take one. An option not in the table makes the command opaque — an unknown
// option is exactly where a "read-only" program hides its writing or executing mode. Long options
// must be spelled out: getopt_long's unique-prefix abbreviations are refused rather than resolved.

export interface OptionTable {
  /** Short options without a value, e.g. `alh`. */
  flags?: string;
  /** Short options taking a value (`-n5` or `-n 5`). */
  valued?: string;
  /**
   * Long options, space-separated: `all` takes no value, `sort=` requires one (`--sort=x` or
   * `--sort x`), `color?` takes an optional attached one (`--color` or `--color=auto`), `arg==`
   * takes two words (jq's `--arg NAME VALUE`).
   */
  long?: string;
  /** Whole words accepted as options, e.g. `-5` for head or git log. */
  patterns?: RegExp[];
  /** Options stop at the first operand (no GNU permutation), e.g. find, env, xargs, timeout. */
  stopAtOperand?: boolean;
}

export interface ParsedOption {
  /** `-x` or `--name`. */
  name: string;
  value?: string;
  values?: string[];
}

export interface ParsedArgs {
  options: ParsedOption[];
  operands: string[];
  /** Whether `--` was given (operands after it may start with `-`). */
  endMarker: boolean;
}

export type OptionsResult = { ok: true; args: ParsedArgs } | { ok: false; reason: string };

interface CompiledTable {
  flags: Set<string>;
  valued: Set<string>;
  long: Map<string, 'none' | 'required' | 'optional' | 'two'>;
  patterns: RegExp[];
  stopAtOperand: boolean;
}

const compiled = new WeakMap<OptionTable, CompiledTable>();

function compile(t: OptionTable): CompiledTable {
  let c = compiled.get(t);
  if (c) return c;
  const long = new Map<string, 'none' | 'required' | 'optional' | 'two'>();
  for (const entry of (t.long ?? '').split(/\s+/).filter(Boolean)) {
    if (entry.endsWith('==')) long.set(entry.slice(0, -2), 'two');
    else if (entry.endsWith('=')) long.set(entry.slice(0, -1), 'required');
    else if (entry.endsWith('?')) long.set(entry.slice(0, -1), 'optional');
    else long.set(entry, 'none');
  }
  c = { flags: new Set(t.flags ?? ''), valued: new Set(t.valued ?? ''), long, patterns: t.patterns ?? [], stopAtOperand: t.stopAtOperand ?? false };
  compiled.set(t, c);
  return c;
}

/** Splits `args` (the words after the program name) into options and operands. */
export function parseOptions(table: OptionTable, args: readonly string[], program: string): OptionsResult {
  const t = compile(table);
  const options: ParsedOption[] = [];
  const operands: string[] = [];
  let endMarker = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (endMarker || a === '-' || !a.startsWith('-') || (t.stopAtOperand && operands.length > 0)) {
      operands.push(a);
      continue;
    }
    if (a === '--') {
      endMarker = true;
      continue;
    }
    if (t.patterns.some((p) => p.test(a))) {
      options.push({ name: a });
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const kind = t.long.get(name);
      if (kind === undefined) return { ok: false, reason: `\`${program}\` has no option \`--${name}\` the gateway knows` };
      if (kind === 'none') {
        if (eq >= 0) return { ok: false, reason: `\`${program} --${name}\` takes no value` };
        options.push({ name: `--${name}` });
      } else if (kind === 'optional') options.push({ name: `--${name}`, value: eq < 0 ? undefined : a.slice(eq + 1) });
      else if (kind === 'required') {
        if (eq >= 0) options.push({ name: `--${name}`, value: a.slice(eq + 1) });
        else if (i + 1 < args.length) options.push({ name: `--${name}`, value: args[++i]! });
        else return { ok: false, reason: `\`${program} --${name}\` lacks its value` };
      } else {
        if (eq >= 0 || i + 2 >= args.length) return { ok: false, reason: `\`${program} --${name}\` takes two words` };
        options.push({ name: `--${name}`, values: [args[i + 1]!, args[i + 2]!] });
        i += 2;
      }
      continue;
    }
    // A cluster of short options: flags, and at most one valued option, which takes the rest.
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      if (t.flags.has(c)) {
        options.push({ name: `-${c}` });
      } else if (t.valued.has(c)) {
        if (j + 1 < a.length) options.push({ name: `-${c}`, value: a.slice(j + 1) });
        else if (i + 1 < args.length) options.push({ name: `-${c}`, value: args[++i]! });
        else return { ok: false, reason: `\`${program} -${c}\` lacks its value` };
        break;
      } else return { ok: false, reason: `\`${program}\` has no option \`-${c}\` the gateway knows` };
    }
  }
  return { ok: true, args: { options, operands, endMarker } };
}

export const has = (args: ParsedArgs, ...names: string[]): boolean => args.options.some((o) => names.includes(o.name));
export const values = (args: ParsedArgs, ...names: string[]): string[] =>
  args.options.filter((o) => names.includes(o.name) && o.value !== undefined).map((o) => o.value!);
