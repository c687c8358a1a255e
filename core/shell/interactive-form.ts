// What an interactive bash is given for a command the gateway decided: the command rebuilt from
// the gateway's own parse, not the lines as typed — so that, as on the exec path, a difference
// between the gateway's reading and bash's cannot run anything the gateway did not judge (and git
// runs through its guard). The rebuilt text goes through bash's readline, so it must read there as
// it does in sh: one whole command, no control characters readline would act on, nothing history
// expansion would rewrite. A command policy allowed although it is opaque has no rebuilt form; it
// goes as typed — that is the policy's call, as for exec requests.
import { readBash } from './bash-syntax.js';
import { historyExpansion, type TypedLine } from './command-input.js';
import type { CommandInspection } from './inspect.js';

export type InteractiveForm =
  /** `bytes`: what to write to the shell; `rebuilt`: whether it is the rebuilt command. */
  | { ok: true; bytes: string; rebuilt: boolean }
  | { ok: false; reason: string };

export function interactiveForm(command: CommandInspection, typed: TypedLine[]): InteractiveForm {
  const asTyped = typed.map((l) => l.text + l.terminator).join('');
  if (command.class === 'opaque' || command.rebuilt === undefined) return { ok: true, bytes: asTyped, rebuilt: false };
  const rebuilt = command.rebuilt.replace(/\n$/, '');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x09\x0b-\x1f\x7f]/.test(rebuilt)) return { ok: false, reason: 'the rebuilt command holds a control character readline would act on' };
  const read = readBash(`${rebuilt}\n`);
  if (read.state !== 'complete') return { ok: false, reason: 'the rebuilt command would not read as one whole command in bash' };
  const expansion = historyExpansion(rebuilt, read.tree);
  if (expansion) return { ok: false, reason: `in the rebuilt command ${expansion}` };
  const terminator = typed.at(-1)?.terminator ?? '\r';
  return { ok: true, bytes: rebuilt.split('\n').map((line) => line + terminator).join(''), rebuilt: true };
}
