// What an interactive session has taught its shell. An alias or a function defined in the session
// changes what a later word runs (`ls() { rm -rf ~; }`, then `ls`), and no single command shows it:
// once a name is defined, later commands that use the name are opaque. An allowed command the
// gateway could not inspect may have defined anything (`source`, `eval`): after one, every later
// command is opaque.
import { COMPUTED, type BashTree } from './bash-syntax.js';

/** Words that run their next word as a command, so `builtin alias x=y` still defines an alias. */
const PREFIXES = new Set(['builtin', 'command']);

export class SessionDefinitions {
  readonly #aliases = new Set<string>();
  readonly #functions = new Set<string>();
  #unknown: string | undefined;

  /** Why `tree` cannot be known from its text alone; empty when nothing defined earlier reaches it. */
  uses(tree: BashTree): string[] {
    if (this.#unknown) return [this.#unknown];
    const reasons = new Set<string>();
    const defined = this.#aliases.size + this.#functions.size > 0;
    if (!defined) return [];
    for (const words of tree.calls()) {
      words.forEach((word, i) => {
        if (word.includes(COMPUTED)) {
          // A computed program name could spell any defined function.
          if (i === 0 && defined) reasons.add('the program name is computed, and this session defined functions or aliases');
          return;
        }
        if (this.#aliases.has(word)) reasons.add(`${word} is an alias defined in this session`);
        if (this.#functions.has(word)) reasons.add(`${word} is a function defined in this session`);
      });
    }
    return [...reasons];
  }

  /** Learns what a command that was sent to the shell defined. */
  record(tree: BashTree, inspectable: boolean): void {
    if (!inspectable) {
      this.#unknown ??= 'an earlier command in this session could not be inspected and may have defined aliases or functions';
      return;
    }
    for (const name of tree.functions()) this.#functions.add(name);
    if (!tree.mayHold('alias')) return;
    for (const words of tree.calls()) {
      let i = 0;
      while (i < words.length - 1 && PREFIXES.has(words[i]!)) i++;
      if (words[i] !== 'alias') continue;
      for (const arg of words.slice(i + 1)) {
        const name = /^([^=\uFFFD]+)=/.exec(arg)?.[1];
        if (name && !name.startsWith('-')) this.#aliases.add(name);
        else if (arg.includes(COMPUTED) && !arg.startsWith('-')) {
          this.#unknown ??= 'this session defined an alias whose name the gateway cannot read';
        }
      }
    }
  }
}
