// Backend messages the gateway writes itself, and decoders for the few upstream messages it reads.
import { BodyReader } from './framer.js';

/** Backend message type bytes. */
export const B = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  CommandComplete: 0x43, // C
  CopyBothResponse: 0x57, // W
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  DataRow: 0x44, // D
  EmptyQueryResponse: 0x49, // I
  ErrorResponse: 0x45, // E
  NegotiateProtocolVersion: 0x76, // v
  NoData: 0x6e, // n
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  ParameterDescription: 0x74, // t
  ParameterStatus: 0x53, // S
  ParseComplete: 0x31, // 1
  PortalSuspended: 0x73, // s
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54, // T
} as const;

export type TransactionStatus = 'I' | 'T' | 'E';

/** Frames a backend message: type byte, length, body. */
export function backendMessage(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(n);
  return b;
}

function cstr(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf8');
}

export const authenticationOk = (): Buffer => backendMessage(B.Authentication, int32(0));
export const authenticationCleartextPassword = (): Buffer => backendMessage(B.Authentication, int32(3));

export const parameterStatus = (name: string, value: string): Buffer =>
  backendMessage(B.ParameterStatus, Buffer.concat([cstr(name), cstr(value)]));

export function backendKeyData(processId: number, secretKey: number): Buffer {
  const body = Buffer.allocUnsafe(8);
  body.writeInt32BE(processId);
  body.writeInt32BE(secretKey, 4);
  return backendMessage(B.BackendKeyData, body);
}

const readyCache = new Map<TransactionStatus, Buffer>();
export function readyForQuery(status: TransactionStatus): Buffer {
  let b = readyCache.get(status);
  if (!b) readyCache.set(status, (b = backendMessage(B.ReadyForQuery, Buffer.from(status, 'latin1'))));
  return b;
}

export function negotiateProtocolVersion(newestMinor: number, unrecognised: string[]): Buffer {
  return backendMessage(B.NegotiateProtocolVersion, Buffer.concat([int32(newestMinor), int32(unrecognised.length), ...unrecognised.map(cstr)]));
}

/** Fields of an ErrorResponse / NoticeResponse, by their protocol field codes. */
export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG' | 'DEBUG';
  code: string; // SQLSTATE
  message: string;
  detail?: string;
  hint?: string;
}

function fieldsBody(f: ErrorFields): Buffer {
  const parts: Buffer[] = [];
  const add = (code: string, value: string | undefined) => {
    if (value !== undefined) parts.push(Buffer.from(code, 'latin1'), cstr(value));
  };
  add('S', f.severity);
  add('V', f.severity); // non-localised severity, which libpq prefers
  add('C', f.code);
  add('M', f.message);
  add('D', f.detail);
  add('H', f.hint);
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export const errorResponse = (f: ErrorFields): Buffer => backendMessage(B.ErrorResponse, fieldsBody(f));
export const noticeResponse = (f: ErrorFields): Buffer => backendMessage(B.NoticeResponse, fieldsBody(f));

/** Decodes an ErrorResponse or NoticeResponse body into its fields keyed by code letter. */
export function decodeFields(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  const r = new BodyReader(body);
  for (;;) {
    const code = r.byte();
    if (code === 0) break;
    out.set(String.fromCharCode(code), r.cstring());
  }
  return out;
}

/** CommandComplete's tag, e.g. `SELECT 5`, `INSERT 0 1`; the trailing number is the row count where there is one. */
export function decodeCommandTag(body: Buffer): { tag: string; rows?: number } {
  const tag = new BodyReader(body).cstring();
  const m = /\s(\d+)$/.exec(tag);
  return m ? { tag, rows: Number(m[1]) } : { tag };
}

/** A ParameterStatus body: the setting's name and its new value. */
export function decodeParameterStatus(body: Buffer): { name: string; value: string } {
  const r = new BodyReader(body);
  return { name: r.cstring(), value: r.cstring() };
}
