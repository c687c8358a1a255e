// A fleet signs task tokens with one key (KMS in AWS). Locally each gateway keeps its key in its data
// directory: a test fleet gets the same key copied into every member's directory.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrCreateTaskKey } from '../../fargate-proxy/src/tasks/local-task-key.js';

/** Creates the task signing key in `first` and copies it into each of `others`. */
export function shareTaskKey(first: string, ...others: string[]): void {
  loadOrCreateTaskKey(first);
  for (const dir of others) {
    mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
    copyFileSync(join(first, 'keys', 'task-signing.key'), join(dir, 'keys', 'task-signing.key'));
  }
}
