// A session's records in a local audit directory, read through the reader the CLI uses (journals
// and logs from before them), and the tampering a test does to them: editing or removing a
// session's lines where they lie in the journal.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRecord } from '../../core/audit/events.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';

/** The session's records in stored order (unparsable lines left out); [] when it has none. */
export async function sessionRecords(dir: string, sessionId: string): Promise<AuditRecord[]> {
  const entries = (await createLocalAuditReader(dir).readSession(sessionId)) ?? [];
  return entries.filter((e): e is AuditRecord => !('unparsable' in e));
}

/** The journal files, oldest first. */
export async function journalFiles(dir: string): Promise<string[]> {
  const names = (await readdir(join(dir, 'journal')).catch(() => [] as string[])).filter((n) => n.endsWith('.jsonl')).sort();
  return names.map((n) => join(dir, 'journal', n));
}

/** The newest journal (the one the last gateway wrote). */
export async function lastJournal(dir: string): Promise<string> {
  const files = await journalFiles(dir);
  if (files.length === 0) throw new Error(`no journal in ${dir}`);
  return files[files.length - 1]!;
}

/**
 * Replaces the session's lines, in place and in order, with `lines` (fewer lines: the rest are
 * removed, more: the extra ones follow its last line). Other sessions' lines stay where they are.
 */
export async function rewriteSessionLines(dir: string, sessionId: string, lines: string[]): Promise<void> {
  const queue = [...lines];
  const files = await journalFiles(dir);
  let lastFile: string | undefined;
  for (const file of files) if ((await readFile(file, 'utf8')).split('\n').some((l) => belongsTo(l, sessionId))) lastFile = file;
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const out: string[] = [];
    const all = text.split('\n');
    const lastIndex = all.map((l) => belongsTo(l, sessionId)).lastIndexOf(true);
    all.forEach((line, i) => {
      if (!belongsTo(line, sessionId)) return void out.push(line);
      const next = queue.shift();
      if (next !== undefined) out.push(next);
      if (file === lastFile && i === lastIndex) out.push(...queue.splice(0));
    });
    await writeFile(file, out.join('\n'));
  }
}

/** The session's lines as they lie in the journals, in order (for a test to edit and `rewriteSessionLines`). */
export async function sessionLines(dir: string, sessionId: string): Promise<string[]> {
  const out: string[] = [];
  for (const file of await journalFiles(dir)) out.push(...(await readFile(file, 'utf8')).split('\n').filter((l) => belongsTo(l, sessionId)));
  return out;
}

/** Applies `edit` to every journal's text; returns what undoes it. */
export async function editJournals(dir: string, edit: (text: string) => string): Promise<() => Promise<void>> {
  const originals = new Map<string, string>();
  for (const file of await journalFiles(dir)) {
    const text = await readFile(file, 'utf8');
    originals.set(file, text);
    await writeFile(file, edit(text));
  }
  return async () => {
    for (const [file, text] of originals) await writeFile(file, text);
  };
}

function belongsTo(line: string, sessionId: string): boolean {
  if (!line || line.startsWith('{"kind":')) return false;
  try {
    return (JSON.parse(line) as { sessionId?: string }).sessionId === sessionId;
  } catch {
    return false;
  }
}
