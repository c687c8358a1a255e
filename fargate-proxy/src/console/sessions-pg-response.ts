// Turns a captured PostgreSQL response (raw backend wire bytes, already masked by the gateway) into
// result tables for the replay page, and anything else into an escaped preview. The bytes were sent
// by a database the agent may control, so nothing here trusts lengths or contents beyond framing.
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage, DataRowMessage, DatabaseError, RowDescriptionMessage, CommandCompleteMessage, NoticeMessage } from 'pg-protocol/dist/messages.js';

export interface PgResultView {
  columns: string[];
  /** Text cells (null for SQL NULL); binary-format cells are shown as a placeholder. */
  rows: Array<Array<string | null>>;
  /** DataRows captured for this result, shown or not. */
  rowCount: number;
  /** The CommandComplete tag, e.g. `SELECT 2`, `UPDATE 1`. */
  command?: string;
}

export interface PgResponseView {
  kind: 'postgres';
  results: PgResultView[];
  errors: Array<{ code?: string; message: string }>;
  notices: string[];
  /** Bytes left over after the last whole message (the capture was cut at its cap). */
  incomplete: boolean;
}

export interface PreviewView {
  kind: 'text' | 'escaped';
  text: string;
  /** Kept bytes not shown. */
  omittedBytes: number;
}

export interface DisplayLimits {
  rowsPerResult: number;
  cellChars: number;
  results: number;
  previewBytes: number;
}

export const DEFAULT_DISPLAY_LIMITS: DisplayLimits = { rowsPerResult: 100, cellChars: 500, results: 20, previewBytes: 2048 };

/** Backend message types that can follow a statement (startup-only ones are not expected here). */
const RESPONSE_TYPES = new Set('TDCEINZ123ntsAGHcdWS'.split('').map((c) => c.charCodeAt(0)));
const MAX_MESSAGE_BYTES = 1 << 30;

/** How many leading bytes are whole backend messages; undefined when even the first header is implausible. */
function framedLength(bytes: Buffer): number | undefined {
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const type = bytes[offset]!;
    const length = bytes.readInt32BE(offset + 1);
    if (!RESPONSE_TYPES.has(type) || length < 4 || length > MAX_MESSAGE_BYTES) return offset === 0 ? undefined : offset;
    if (offset + 1 + length > bytes.length) break;
    offset += 1 + length;
  }
  return offset;
}

const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max)}…` : s);

/** Decodes backend messages; undefined when the bytes do not look like a PostgreSQL response. */
export function decodePostgresResponse(bytes: Buffer, limits: DisplayLimits = DEFAULT_DISPLAY_LIMITS): PgResponseView | undefined {
  const whole = framedLength(bytes);
  // Not one whole message (e.g. a cap smaller than the first): the escaped bytes say more than an empty table.
  if (whole === undefined || whole === 0) return undefined;
  const view: PgResponseView = { kind: 'postgres', results: [], errors: [], notices: [], incomplete: whole < bytes.length };
  let current: PgResultView | undefined;
  // Which columns of the current result are in binary format (their cells are not text).
  let binary: boolean[] = [];
  const open = (columns: string[], formats: boolean[]): PgResultView => {
    const r: PgResultView = { columns, rows: [], rowCount: 0 };
    binary = formats;
    if (view.results.length < limits.results) view.results.push(r);
    return r;
  };
  const onMessage = (m: BackendMessage): void => {
    switch (m.name) {
      case 'rowDescription': {
        const fields = (m as RowDescriptionMessage).fields;
        current = open(
          fields.map((f) => clip(f.name, limits.cellChars)),
          fields.map((f) => f.format === 'binary'),
        );
        break;
      }
      case 'dataRow': {
        const cells = (m as DataRowMessage).fields as Array<string | null>;
        // Without a RowDescription in the capture (extended protocol, described earlier) columns are unnamed.
        current ??= open(cells.map((_, i) => `column ${i + 1}`), []);
        current.rowCount++;
        if (current.rows.length < limits.rowsPerResult) {
          current.rows.push(cells.map((c, i) => (c === null ? null : binary[i] ? '(binary)' : clip(String(c), limits.cellChars))));
        }
        break;
      }
      case 'commandComplete':
        (current ?? open([], [])).command = clip((m as CommandCompleteMessage).text, limits.cellChars);
        current = undefined;
        break;
      case 'error': {
        const e = m as DatabaseError;
        view.errors.push({ code: e.code, message: clip(e.message, limits.cellChars) });
        current = undefined;
        break;
      }
      case 'notice':
        view.notices.push(clip((m as NoticeMessage).message ?? '', limits.cellChars));
        break;
      default:
        break;
    }
  };
  try {
    new Parser().parse(bytes.subarray(0, whole), onMessage);
  } catch {
    // A body that lies about its contents: show the bytes instead.
    return undefined;
  }
  return view;
}

/** Printable ASCII as is; everything else as `\xNN` so no byte can pose as markup or control text. */
export function escapedPreview(bytes: Buffer, limits: DisplayLimits = DEFAULT_DISPLAY_LIMITS): PreviewView {
  const shown = bytes.subarray(0, limits.previewBytes);
  let text = '';
  for (const b of shown) {
    if (b === 0x0a) text += '\n';
    else if (b === 0x5c) text += '\\\\';
    else if (b >= 0x20 && b < 0x7f) text += String.fromCharCode(b);
    else text += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return { kind: 'escaped', text, omittedBytes: bytes.length - shown.length };
}

export function textPreview(bytes: Buffer, limits: DisplayLimits = DEFAULT_DISPLAY_LIMITS): PreviewView {
  const shown = bytes.subarray(0, limits.previewBytes);
  return { kind: 'text', text: shown.toString('utf8'), omittedBytes: bytes.length - shown.length };
}
