// Reading a per-session log's ends (the layout before the journal) without reading all of it: its
// last record (where a chain resumes) and its first (which says the target kind). A JSON-lines file
// (a log, a journal, the index) that does not end with a newline holds a write the process never
// finished (a crash in a write of several pages, a short write): no acknowledgement and no digest
// covers those bytes.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, constants } from 'node:fs';
import type { AuditRecord } from '../../../../core/audit/events.js';

export interface LogTail {
  /** The last line that parses as a record. */
  last?: AuditRecord;
  /** Bytes after the last newline: an unfinished write. */
  tornBytes: number;
  size: number;
}

const CHUNK = 64 * 1024;

function parseRecord(line: string): AuditRecord | undefined {
  if (!line) return undefined;
  try {
    const r = JSON.parse(line) as AuditRecord;
    return typeof r === 'object' && r !== null && typeof r.seq === 'number' && typeof r.hash === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The end of a log; undefined when there is no such file. Reads backwards, a chunk at a time. */
export function readLogTail(path: string): LogTail | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    let pos = size;
    let tornBytes: number | undefined;
    // Bytes from `pos` to the end not yet examined: complete lines only, once the torn part is off.
    let buf = Buffer.alloc(0);
    while (pos > 0) {
      const start = Math.max(0, pos - CHUNK);
      const chunk = Buffer.alloc(pos - start);
      readSync(fd, chunk, 0, chunk.length, start);
      buf = Buffer.concat([chunk, buf]);
      pos = start;
      if (tornBytes === undefined) {
        const nl = buf.lastIndexOf(0x0a);
        if (nl < 0 && pos > 0) continue;
        tornBytes = buf.length - (nl + 1);
        buf = buf.subarray(0, nl + 1);
      }
      // `stop` ends a line (just past its newline); the line starts after the newline before it.
      let stop = buf.length;
      while (stop > 0) {
        const nl = stop >= 2 ? buf.lastIndexOf(0x0a, stop - 2) : -1;
        if (nl < 0 && pos > 0) break; // the line may begin in the chunk before
        const rec = parseRecord(buf.subarray(nl + 1, stop).toString('utf8').trim());
        if (rec) return { last: rec, tornBytes, size };
        stop = nl + 1;
      }
      buf = buf.subarray(0, stop);
    }
    return { tornBytes: tornBytes ?? 0, size };
  } finally {
    closeSync(fd);
  }
}

/** The first record of a log (a session's start), read from its first 64 KiB. */
export function readLogHead(path: string): AuditRecord | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(CHUNK);
    const n = readSync(fd, buf, 0, CHUNK, 0);
    const nl = buf.subarray(0, n).indexOf(0x0a);
    return nl < 0 ? undefined : parseRecord(buf.subarray(0, nl).toString('utf8'));
  } finally {
    closeSync(fd);
  }
}

/** Cuts an unfinished last write off a JSON-lines file, so the next line does not run into it. Returns the bytes removed. */
export function cutTornTail(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - CHUNK);
      const chunk = Buffer.alloc(end - start);
      readSync(fd, chunk, 0, chunk.length, start);
      const nl = chunk.lastIndexOf(0x0a);
      if (nl >= 0) {
        const keep = start + nl + 1;
        if (keep < size) ftruncateSync(fd, keep);
        return size - keep;
      }
      end = start;
    }
    if (size > 0) ftruncateSync(fd, 0);
    return size;
  } finally {
    closeSync(fd);
  }
}
