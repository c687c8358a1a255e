// Judges an exec's command with the SSH path's shell classifier. Kubernetes runs the argv as given,
// with no shell in between: a plain argv is judged as the program it names with its options (each
// word quoted, so nothing in it is a shell expansion). `sh -c SCRIPT` (also bash, dash) hands the
// script to a shell: the classifier reads it with bash's grammar. What is forwarded is never the
// agent's argv but the command as the classifier rebuilt it (core/shell/argv-form.ts), as on the
// SSH path: git through its guard, pagers off, a script as rebuilt — so the container runs exactly
// what was judged. A rebuilt command that has no argv form (it would need a shell the argv does
// not have) is refused whatever policy says, never sent as the agent wrote it. A lone shell with
// stdin (`kubectl exec -i[t] POD -- sh`) is an interactive session: each line the agent types is
// decided on its own, and given to the shell rebuilt.
import { posix } from 'node:path';
import { inspectCommand, type CommandInspection } from '../../../../../core/shell/index.js';
import { argvForm } from '../../../../../core/shell/argv-form.js';
import { quote } from '../../../../../core/shell/words.js';

/** Shells whose language is bash's (or a subset): their lines can be judged with bash's grammar. */
const LINE_SHELLS = new Set(['sh', 'bash', 'dash', 'ash']);

export interface ExecCommand {
  /** `command`: decided once; `shell`: an interactive shell, each typed line decided. */
  input: 'command' | 'shell';
  inspection: CommandInspection;
  /** What is sent upstream as `command` (undefined: policy allowed an opaque command, which goes as sent). */
  forward?: string[];
  /** Why the command cannot be forwarded as judged: refused whatever policy says. */
  unforwardable?: string;
}

export function judgeExecCommand(argv: readonly string[], stdin: boolean): ExecCommand {
  const text = argv.map(quote).join(' ');
  const inspection = inspectCommand(text);
  const program = posix.basename(argv[0] ?? '');
  if (stdin && LINE_SHELLS.has(program) && (argv.length === 1 || (argv.length === 2 && argv[1] === '-i'))) {
    return { input: 'shell', inspection, forward: [...argv] };
  }
  // Opaque: nothing was rebuilt; a policy that allows it anyway allows it as sent (as for SSH).
  if (inspection.class === 'opaque' || inspection.rebuilt === undefined) return { input: 'command', inspection };
  const form = argvForm(inspection.rebuilt);
  if (!form.ok) {
    const reason = `the command as rebuilt ${form.reason}, and Kubernetes runs the argv with no shell`;
    return { input: 'command', inspection: { ...inspection, class: 'opaque', reasons: [...inspection.reasons, reason] }, unforwardable: reason };
  }
  return { input: 'command', inspection, forward: form.argv };
}
