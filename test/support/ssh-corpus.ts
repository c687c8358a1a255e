// The SSH bypass and usefulness corpora (test/fixtures/ssh-corpus): one command per line, `⏎`
// standing for a newline inside a command, `#` lines and blank lines skipped.
import { readFileSync } from 'node:fs';

function load(name: string): string[] {
  const text = readFileSync(new URL(`../fixtures/ssh-corpus/${name}`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.replaceAll('⏎', '\n'));
}

/** Commands that must not be classified `read`; `MARKER` stands for a file that must survive. */
export const bypassCorpus = (marker = '/tmp/airlock-marker'): string[] => load('bypass.txt').map((c) => c.replaceAll('MARKER', marker));

/** Commands agents run to look around; all must be classified `read`. */
export const usefulnessCorpus = (): string[] => load('usefulness.txt');
