// Judges an exec's command with the SSH path's shell classifier. Kubernetes runs the argv as given,
// with no shell in between: a plain argv is judged as the program it names with its options (each
// word quoted, so nothing in it is a shell expansion). `sh -c SCRIPT` (also bash, dash) hands the
// script to a shell: the classifier reads it with bash's grammar, and what is forwarded is the
// script as the classifier rebuilt it, so the container's shell runs exactly what was judged. A
// lone shell with stdin (`kubectl exec -i[t] POD -- sh`) is an interactive session: each line the
// agent types is decided on its own.
import { posix } from 'node:path';
import { inspectCommand, type CommandInspection } from '../../../../../core/shell/index.js';
import { quote } from '../../../../../core/shell/words.js';

/** Shells whose language is bash's (or a subset): their lines can be judged with bash's grammar. */
const LINE_SHELLS = new Set(['sh', 'bash', 'dash', 'ash']);
const SCRIPT_SHELLS = new Set(['sh', 'bash', 'dash']);

export interface ExecCommand {
  /** `command`: decided once; `shell`: an interactive shell, each typed line decided. */
  input: 'command' | 'shell';
  inspection: CommandInspection;
  /** What is sent upstream as `command` (undefined: policy allowed an opaque command, which goes as sent). */
  forward?: string[];
}

export function judgeExecCommand(argv: readonly string[], stdin: boolean): ExecCommand {
  const text = argv.map(quote).join(' ');
  const inspection = inspectCommand(text);
  const program = posix.basename(argv[0] ?? '');
  if (stdin && LINE_SHELLS.has(program) && (argv.length === 1 || (argv.length === 2 && argv[1] === '-i'))) {
    return { input: 'shell', inspection, forward: [...argv] };
  }
  if (argv.length === 3 && argv[1] === '-c' && SCRIPT_SHELLS.has(program)) {
    const script = inspectCommand(argv[2]!);
    return { input: 'command', inspection, forward: script.rebuilt === undefined ? undefined : [argv[0]!, '-c', script.rebuilt] };
  }
  return { input: 'command', inspection, forward: inspection.class === 'opaque' ? undefined : [...argv] };
}
