// Local policy source: a Cedar file (and optionally its schema) reloaded when edited.
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { compilePolicySet, type PolicyEngine } from '../../../../core/policy/index.js';

export interface PolicyFileWatch {
  /** The engine of the last good policy set. */
  readonly current: PolicyEngine;
  close(): void;
}

/** Editors save in bursts (truncate, write, rename); wait for the burst to end before reading. */
const SETTLE_MS = 75;

/**
 * Compiles `path` now (throwing PolicyError if it is invalid: there is no previous engine to keep),
 * then recompiles on every change to it or to `schemaPath`. A bad edit keeps the previous engine
 * and is reported through `onError`; a good one is handed to `onEngine`.
 * Without `schemaPath` the published Airlock schema is used.
 */
export function watchPolicyFile(
  path: string,
  schemaPath: string | undefined,
  onEngine: (engine: PolicyEngine) => void,
  onError: (message: string) => void,
): PolicyFileWatch {
  const policyPath = resolve(path);
  const schemaFile = schemaPath === undefined ? undefined : resolve(schemaPath);
  let current = compilePolicySet(readFileSync(policyPath, 'utf8'), schemaFile && readFileSync(schemaFile, 'utf8'));
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let reloading: Promise<void> = Promise.resolve();

  const reload = async (): Promise<void> => {
    try {
      const [policyText, schemaText] = await Promise.all([
        readFile(policyPath, 'utf8'),
        schemaFile === undefined ? Promise.resolve(undefined) : readFile(schemaFile, 'utf8'),
      ]);
      const engine = compilePolicySet(policyText, schemaText);
      if (closed || engine.version === current.version) return;
      current = engine;
      onEngine(engine);
    } catch (err) {
      if (closed) return;
      const reason = err instanceof Error ? err.message : String(err);
      onError(`policy reload failed; keeping version ${current.version}: ${reason}`);
    }
  };

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    // Reloads run one after another so an older read can never replace a newer engine.
    timer = setTimeout(() => {
      reloading = reloading.then(reload);
    }, SETTLE_MS);
  };

  // Watch the directories, not the files: saving by rename replaces the inode a file watch follows.
  const watched = new Map<string, Set<string>>();
  for (const file of [policyPath, ...(schemaFile ? [schemaFile] : [])]) {
    const names = watched.get(dirname(file)) ?? new Set<string>();
    names.add(basename(file));
    watched.set(dirname(file), names);
  }
  const watchers: FSWatcher[] = [...watched].map(([dir, names]) =>
    watch(dir, (_event, name) => {
      if (name === null || names.has(name.toString())) schedule();
    }).on('error', (err) => onError(`cannot watch ${dir} for policy changes: ${err.message}`)),
  );

  return {
    get current() {
      return current;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
