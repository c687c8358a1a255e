// Masks values in the upstream's answers as they stream to the client: DataRow cells (text format,
// and binary format for textual types), COPY … TO STDOUT data, ErrorResponse/NoticeResponse fields
// (a unique violation's DETAIL carries the duplicate value) and NOTIFY payloads. Lengths are
// rewritten with the values; messages with nothing to mask are sent as they arrived.
import type { Masker, ColumnPlan, MaskSummary } from '../../../../core/mask/index.js';
import type { MaskingSummary } from '../../../../core/audit/events.js';
import { B, backendMessage as frame, noticeResponse } from './backend.js';
import { BodyReader, MalformedMessageError } from './framer.js';
import type { RewriteSlab } from './rewrite-slab.js';

// Binary wire formats that are plain UTF-8 text (jsonb adds a version byte before the text).
const TEXTUAL_TYPES = new Set([25 /* text */, 1043 /* varchar */, 1042 /* bpchar */, 19 /* name */, 114 /* json */, 142 /* xml */, 705 /* unknown */, 3802 /* jsonb */]);
const JSONB = 3802;
// In text format these also take any masked string and stay valid input for their type (arrays of
// text: the placeholders contain no array syntax). Type 0: not described, treated as text.
const TEXT_FORMAT_SAFE = new Set([...TEXTUAL_TYPES, 18 /* char */, 1009 /* text[] */, 1015 /* varchar[] */, 1014 /* bpchar[] */, 199 /* json[] */, 3807 /* jsonb[] */, 0]);
// Error/notice fields that can carry data values: message, detail, hint, context, internal query.
const VALUE_FIELDS = new Set(['M', 'D', 'H', 'W', 'q']);

/** buf[from, to) copied to out[at…]; returns where it ends. Short stretches (most cells) skip Buffer#copy's argument checks. */
function copyBytes(buf: Buffer, from: number, to: number, out: Buffer, at: number): number {
  if (to - from > 32) return at + buf.copy(out, at, from, to);
  for (let i = from; i < to; i++) out[at++] = buf[i]!;
  return at;
}

interface ResultShape {
  plan: ColumnPlan;
  formats: number[];
  types: number[];
  /** Table OID and attribute number of each column (0, 0 for an expression). */
  origins: [number, number][];
  /** Columns whose detector hit was reported already. */
  reported?: Set<number>;
}

/** Told when a detector masked a value of a plain table column: the column is then known to be masked. */
export type DetectorHitListener = (tableOid: number, attnum: number) => void;

export class ResultMasker {
  #shape: ResultShape | undefined;
  /** The RowDescription body `#shape` was planned from. */
  #described: Buffer | undefined;
  #warnedBinary = false;
  /** Notices the caller sends after the current message (e.g. a binary column nulled). */
  readonly pendingNotices: Buffer[] = [];

  constructor(
    private readonly masker: Masker,
    private readonly onDetectorHit?: DetectorHitListener,
    /** The rule-matched column a result column comes from: `SELECT ssn AS x` is still ssn. */
    private readonly ruleColumnAt?: (tableOid: number, attnum: number) => string | undefined,
  ) {}

  rowDescription(body: Buffer): void {
    this.#warnedBinary = false;
    // A session tends to ask the same query again: its columns are planned once.
    if (this.#shape && this.#described?.equals(body)) return;
    this.#described = Buffer.from(body); // a copy: a view would keep the whole socket read alive
    const r = new BodyReader(body);
    const n = r.int16();
    const names: string[] = [];
    const formats: number[] = [];
    const types: number[] = [];
    const origins: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      names.push(r.cstring());
      origins.push([r.int32() >>> 0, r.int16()]);
      types.push(r.int32());
      r.int16(); // type length
      r.int32(); // type modifier
      formats.push(r.int16());
    }
    // Column rules match names; a column returned under another name is planned by its own.
    const planned = this.ruleColumnAt ? names.map((n, i) => this.ruleColumnAt!(origins[i]![0], origins[i]![1]) ?? n) : names;
    this.#shape = { plan: this.masker.planColumns(planned), formats, types, origins };
  }

  /**
   * The DataRow message at buf[start, end) (header included), in one pass over its cells: each
   * cell is read where it lies, and only when one changes is the row written again, into `slab`
   * (unchanged stretches copied as they are, followed by the notices it caused). False when the
   * row goes out as it arrived.
   */
  rewriteDataRow(buf: Buffer, start: number, end: number, slab: RewriteSlab): boolean {
    const bound = this.#maskRow(buf, start, end);
    if (bound < 0) return false;
    const notices = this.pendingNotices;
    let noticeBytes = 0;
    for (const n of notices) noticeBytes += n.length;
    const off = slab.alloc(bound + noticeBytes);
    const out = slab.buffer;
    let at = this.#writeRow(buf, out, off);
    if (notices.length > 0) {
      for (const n of notices) at += n.copy(out, at);
      notices.length = 0;
    }
    slab.trimLast(at - off);
    return true;
  }

  /** The DataRow with body `body` and wire bytes `raw`, masked; `raw` itself when nothing changed. Notices stay in `pendingNotices`. */
  dataRow(body: Buffer, raw: Buffer): Buffer {
    const bound = this.#maskRow(raw, 0, raw.length);
    if (bound < 0) return raw;
    const out = Buffer.allocUnsafe(bound);
    return out.subarray(0, this.#writeRow(raw, out, 0));
  }

  // The cells #maskRow changed: where each one's length word starts and its value ends in the row,
  // and what replaces it (a string is written as UTF-8, null is SQL NULL). Reused from row to row.
  #changedFrom: number[] = [];
  #changedTo: number[] = [];
  #changedValue: (string | Buffer | null)[] = [];
  #changed = 0;
  /** Where the row #maskRow read starts, and where its last cell ends. */
  #rowStart = 0;
  #rowEnd = 0;

  /**
   * Masks the row's cells; returns an upper bound of the rewritten message's size (a string
   * counted at 3 bytes a code unit, so none is encoded twice), or -1 when no cell changed.
   */
  #maskRow(buf: Buffer, start: number, end: number): number {
    let shape = this.#shape;
    if (!shape) {
      shape = this.#shape = { plan: this.masker.planColumns([]), formats: [], types: [], origins: [] };
      this.#described = undefined;
    }
    this.#changed = 0;
    let p = start + 5;
    if (p + 2 > end) throw new MalformedMessageError('message body is truncated');
    const n = buf.readInt16BE(p);
    p += 2;
    let grow = 0;
    for (let i = 0; i < n; i++) {
      if (p + 4 > end) throw new MalformedMessageError('message body is truncated');
      const from = p;
      const len = buf.readInt32BE(p);
      p += 4;
      if (len < 0) continue;
      if (p + len > end) throw new MalformedMessageError('message body is truncated');
      const replaced = this.#maskCell(buf, p, p + len, shape, i);
      p += len;
      if (replaced === undefined) continue;
      const k = this.#changed++;
      this.#changedFrom[k] = from;
      this.#changedTo[k] = p;
      this.#changedValue[k] = replaced;
      grow += (replaced === null ? 0 : typeof replaced === 'string' ? 3 * replaced.length : replaced.length) - len;
    }
    if (this.#changed === 0) return -1;
    this.#rowStart = start;
    // Bytes after the last cell are not relayed in a rewritten row (they were never scanned).
    this.#rowEnd = p;
    return p - start + grow;
  }

  /** Writes the row #maskRow planned at out[off], unchanged stretches copied and changed cells spliced in; returns where it ends. */
  #writeRow(buf: Buffer, out: Buffer, off: number): number {
    out[off] = B.DataRow;
    let at = off + 5;
    let from = this.#rowStart + 5; // the cell count, then every cell up to the next changed one
    for (let k = 0; k < this.#changed; k++) {
      at = copyBytes(buf, from, this.#changedFrom[k]!, out, at);
      const v = this.#changedValue[k]!;
      this.#changedValue[k] = null; // the row's strings are not kept alive by the masker
      if (v === null) {
        out.writeInt32BE(-1, at);
        at += 4;
      } else {
        const len = typeof v === 'string' ? out.write(v, at + 4) : v.copy(out, at + 4);
        out.writeInt32BE(len, at);
        at += 4 + len;
      }
      from = this.#changedTo[k]!;
    }
    at = copyBytes(buf, from, this.#rowEnd, out, at);
    out.writeInt32BE(at - off - 1, off + 1);
    return at;
  }

  /** The replacement for the cell at body[start, end) (a string is its UTF-8 text), null for SQL NULL, or undefined when unchanged. */
  #maskCell(body: Buffer, start: number, end: number, shape: ResultShape, i: number): string | Buffer | null | undefined {
    const replaced = this.#maskCellValue(body, start, end, shape, i);
    if (replaced !== undefined && this.onDetectorHit && shape.plan.styles[i] === undefined && !shape.reported?.has(i)) {
      (shape.reported ??= new Set()).add(i);
      const [oid, attnum] = shape.origins[i] ?? [0, 0];
      if (oid > 0 && attnum > 0) this.onDetectorHit(oid, attnum);
    }
    return replaced;
  }

  #maskCellValue(body: Buffer, start: number, end: number, shape: ResultShape, i: number): string | Buffer | null | undefined {
    const binary = shape.formats.length === 1 ? shape.formats[0] === 1 : shape.formats[i] === 1;
    if (!binary) {
      const masked = this.masker.maskCellBytes(body, start, end, shape.plan, i);
      if (masked === undefined) return undefined;
      // A placeholder in an int, date or uuid column would break the client's parsing of the row.
      if (!TEXT_FORMAT_SAFE.has(shape.types[i] ?? 0)) return this.#nulled(shape, i, 'its type cannot hold a masked value');
      return masked;
    }
    const type = shape.types[i] ?? 0;
    if (TEXTUAL_TYPES.has(type)) {
      const textStart = Math.min(end, start + (type === JSONB ? 1 : 0));
      const masked = this.masker.maskCellBytes(body, textStart, end, shape.plan, i);
      if (masked === undefined) return undefined;
      return Buffer.concat([body.subarray(start, textStart), Buffer.from(masked, 'utf8')]);
    }
    // A binary value of another type cannot carry a masked string: when a column rule names it,
    // it is nulled (never passed through raw) and the client is told once per result set.
    if (shape.plan.styles[i] === undefined) return undefined;
    return this.#nulled(shape, i, 'it was requested in binary format');
  }

  /** Sends NULL for a value that must be masked but cannot carry a placeholder; tells the client once per result set. */
  #nulled(shape: ResultShape, i: number, why: string): null {
    if (!this.#warnedBinary) {
      this.#warnedBinary = true;
      const column = shape.plan.names[i] ?? `#${i + 1}`;
      this.pendingNotices.push(noticeResponse({ severity: 'NOTICE', code: '01000', message: `Airlock: column "${column}" holds masked values and ${why}; they are sent as NULL` }));
    }
    return null;
  }

  copyData(body: Buffer, raw: Buffer): Buffer {
    const masked = this.masker.maskText(body.toString('utf8'));
    return masked === undefined ? raw : frame(B.CopyData, Buffer.from(masked, 'utf8'));
  }

  /** ErrorResponse and NoticeResponse: fields rebuilt only when one of them changed. */
  fields(type: number, body: Buffer, raw: Buffer): Buffer {
    const r = new BodyReader(body);
    const parts: [number, string][] = [];
    let changed = false;
    for (let code = r.byte(); code !== 0; code = r.byte()) {
      let value = r.cstring();
      if (VALUE_FIELDS.has(String.fromCharCode(code))) {
        const masked = this.masker.maskText(value);
        if (masked !== undefined) {
          value = masked;
          changed = true;
        }
      }
      parts.push([code, value]);
    }
    if (!changed) return raw;
    const bufs: Buffer[] = [];
    for (const [code, value] of parts) bufs.push(Buffer.from([code]), Buffer.from(value + '\0', 'utf8'));
    bufs.push(Buffer.from([0]));
    return frame(type, Buffer.concat(bufs));
  }

  notification(body: Buffer, raw: Buffer): Buffer {
    const r = new BodyReader(body);
    const pid = r.int32();
    const channel = r.cstring();
    const payload = r.cstring();
    const masked = this.masker.maskText(payload);
    if (masked === undefined) return raw;
    const head = Buffer.allocUnsafe(4);
    head.writeInt32BE(pid);
    return frame(B.NotificationResponse, Buffer.concat([head, Buffer.from(channel + '\0', 'utf8'), Buffer.from(masked + '\0', 'utf8')]));
  }

  /** Counts since the last call, in the audit's shape; undefined when nothing was masked. */
  takeSummary(): MaskingSummary | undefined {
    const s: MaskSummary = this.masker.takeSummary();
    const counts: Record<string, number> = {};
    let total = s.texts;
    for (const [d, n] of Object.entries(s.detectors)) if (n) counts[`detector:${d}`] = n;
    for (const [c, n] of Object.entries(s.columns)) {
      counts[`column:${c}`] = n;
      total += n;
    }
    if (s.texts) counts.texts = s.texts;
    return total > 0 || Object.keys(counts).length > 0 ? { counts, total } : undefined;
  }
}
