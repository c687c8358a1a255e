// The audit journal: one append-only JSON-lines file per gateway process, holding every session's
// events interleaved (each still chained per session) and, with a remote store, the items shipped
// to it. Its lines are of two kinds:
//   a record             `{"at":…,"sessionId":…,"seq":…,…,"hash":…}` (canonical keys, so never `{"kind"…`)
//   a ship-only item     `{"kind":"digest","digest":…}` or `{"kind":"event","record":…}` (an older spool's event)
// Journals are named by their start time, so their names sort in the order they were written.
import { closeSync, fstatSync, openSync, readSync, readdirSync, readFileSync, renameSync, writeFileSync, constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { AuditRecord } from '../../../../core/audit/events.js';
import type { ShippedItem } from '../../../../core/audit/ports.js';

const CHUNK = 1024 * 1024;
const SHIP_ONLY = Buffer.from('{"kind":');

/** What the sink remembers of each journal across restarts (journal/state.json). */
export interface JournalState {
  /** Bytes of the journal the remote store acknowledged; absent: the journal is not shipped. */
  shipped?: number;
  /** A later start closed out what its crash left open (or its gateway closed with no session open). */
  sealed?: boolean;
}
export type JournalStates = Record<string, JournalState>;

export const JOURNAL_SUFFIX = '.jsonl';

export function newJournalName(now = new Date()): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
}

/** Journal names, oldest first. */
export function listJournals(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith(JOURNAL_SUFFIX))
      .map((n) => n.slice(0, -JOURNAL_SUFFIX.length))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export function readJournalStates(path: string): JournalStates {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as JournalStates) : {};
  } catch {
    return {};
  }
}

/** Replaced atomically: a crash leaves the old state or the new one. */
export function writeJournalStates(path: string, states: JournalStates): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(states));
  renameSync(`${path}.tmp`, path);
}

/**
 * Calls `each` for every whole line (newline-terminated) from `from`, with its byte range and its
 * line number (1-based, counted from `from` as `firstLine`). Returns the offset past the last whole
 * line: bytes after it are an unfinished write.
 */
export function forEachJournalLine(path: string, from: number, each: (line: Buffer, start: number, end: number, lineNo: number) => void, firstLine = 1): { end: number; lines: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { end: from, lines: firstLine - 1 };
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    let pos = from;
    let lineNo = firstLine;
    let carry = Buffer.alloc(0);
    let carryStart = from;
    while (pos < size) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n <= 0) break;
      pos += n;
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let at = 0;
      for (let nl = buf.indexOf(0x0a, at); nl >= 0; nl = buf.indexOf(0x0a, at)) {
        if (nl > at) each(buf.subarray(at, nl), carryStart + at, carryStart + nl + 1, lineNo);
        lineNo++;
        at = nl + 1;
      }
      carry = Buffer.from(buf.subarray(at));
      carryStart += at;
    }
    return { end: carryStart, lines: lineNo - 1 };
  } finally {
    closeSync(fd);
  }
}

export type JournalLine = { record: AuditRecord } | { item: ShippedItem } | { unparsable: string; sessionId?: string };

const SESSION_ID = /"sessionId":"((?:[^"\\]|\\.)*)"/;

export function parseJournalLine(line: Buffer): JournalLine {
  const text = line.toString('utf8');
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    if (line.subarray(0, SHIP_ONLY.length).equals(SHIP_ONLY)) {
      if ((value.kind === 'event' && value.record) || (value.kind === 'digest' && value.digest)) return { item: value as unknown as ShippedItem };
    } else if (typeof value.sessionId === 'string' && typeof value.seq === 'number') return { record: value as unknown as AuditRecord };
  } catch {
    /* falls through: damage is for verification to report */
  }
  // A damaged line still names its session when that part survived: verification reports it there.
  return { unparsable: text, sessionId: SESSION_ID.exec(text)?.[1] };
}

/** The item a journal line ships as: a record is shipped as an event. */
export function shippedItemOf(parsed: JournalLine): ShippedItem | undefined {
  if ('record' in parsed) return { kind: 'event', record: parsed.record };
  if ('item' in parsed) return parsed.item;
  return undefined;
}
