// Decoders for what a client sends (PostgreSQL protocol 3.0, "Message Formats").
import { BodyReader, MalformedMessageError } from './framer.js';

export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
export const PROTOCOL_3_0 = 196608;

/** Frontend message type bytes. */
export const F = {
  Bind: 0x42, // B
  Close: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Describe: 0x44, // D
  Execute: 0x45, // E
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  Parse: 0x50, // P
  Password: 0x70, // p (also SASL responses)
  Query: 0x51, // Q
  Sync: 0x53, // S
  Terminate: 0x58, // X
} as const;

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; processId: number; secretKey: Buffer }
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> }
  | { kind: 'unknown'; code: number };

export function decodeStartup(body: Buffer): StartupPacket {
  const r = new BodyReader(body);
  const code = r.int32();
  if (code === SSL_REQUEST_CODE) return { kind: 'ssl' };
  if (code === GSSENC_REQUEST_CODE) return { kind: 'gssenc' };
  if (code === CANCEL_REQUEST_CODE) {
    const processId = r.int32();
    // Protocol 3.2 allows longer keys; keep whatever length the client sent.
    return { kind: 'cancel', processId, secretKey: Buffer.from(r.bytes(r.remaining)) };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) return { kind: 'unknown', code };
  const params = new Map<string, string>();
  for (;;) {
    const name = r.cstring();
    if (name === '') break;
    if (params.has(name)) throw new MalformedMessageError(`duplicate startup parameter "${name}"`);
    params.set(name, r.cstring());
  }
  return { kind: 'startup', major, minor, params };
}

/**
 * A Query's string must end exactly at the message end. One with a NUL inside would be inspected
 * up to the NUL while the server might see more: that is a protocol violation, never forwarded.
 */
export function decodeQuery(body: Buffer): string {
  const r = new BodyReader(body);
  const sql = r.cstring();
  if (r.remaining !== 0) throw new MalformedMessageError(`Query string ends at byte ${r.offset - 1} of a ${body.length}-byte body: it holds a NUL byte`);
  return sql;
}

export interface ParseMessage {
  statement: string;
  query: string;
  /** The parameter type OIDs the client declared (0: let the server infer it). */
  paramTypes: number[];
}
export function decodeParse(body: Buffer): ParseMessage {
  const r = new BodyReader(body);
  const statement = r.cstring();
  const query = r.cstring();
  const n = r.int16();
  if (n < 0) throw new MalformedMessageError('negative parameter type count');
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(r.int32() >>> 0);
  // Bytes past the parameter types mean the query string ended early, at a NUL inside it.
  if (r.remaining !== 0) throw new MalformedMessageError(`Parse message has ${r.remaining} bytes past its parameter types: its query string holds a NUL byte`);
  return { statement, query, paramTypes };
}

/** Only the names: parameter values are forwarded untouched and never inspected. */
export function decodeBindNames(body: Buffer): { portal: string; statement: string } {
  const r = new BodyReader(body);
  const portal = r.cstring();
  const statement = r.cstring();
  return { portal, statement };
}

export interface BindMessage {
  portal: string;
  statement: string;
  /** Each parameter's value (null for SQL NULL) and whether it is sent in binary format. */
  values: { value: Buffer | null; binary: boolean }[];
}

export function decodeBind(body: Buffer): BindMessage {
  const r = new BodyReader(body);
  const portal = r.cstring();
  const statement = r.cstring();
  const nFormats = r.int16();
  if (nFormats < 0) throw new MalformedMessageError('negative parameter format count');
  const formats: number[] = [];
  for (let i = 0; i < nFormats; i++) formats.push(r.int16());
  const nValues = r.int16();
  if (nValues < 0) throw new MalformedMessageError('negative parameter count');
  if (nFormats > 1 && nFormats !== nValues) throw new MalformedMessageError(`Bind has ${nFormats} parameter formats for ${nValues} parameters`);
  const values: BindMessage['values'] = [];
  for (let i = 0; i < nValues; i++) {
    const length = r.int32();
    const binary = (nFormats === 1 ? formats[0] : formats[i]) === 1;
    values.push({ value: length === -1 ? null : r.bytes(length), binary });
  }
  return { portal, statement, values };
}

export function decodeExecute(body: Buffer): { portal: string; maxRows: number } {
  const r = new BodyReader(body);
  return { portal: r.cstring(), maxRows: r.int32() };
}

/** Describe and Close share a layout: 'S' (statement) or 'P' (portal), then the name. */
export function decodeTarget(body: Buffer): { kind: 'S' | 'P'; name: string } {
  const r = new BodyReader(body);
  const k = r.byte();
  if (k !== 0x53 && k !== 0x50) throw new MalformedMessageError(`invalid Describe/Close target '${String.fromCharCode(k)}'`);
  return { kind: k === 0x53 ? 'S' : 'P', name: r.cstring() };
}

export function decodeFunctionCall(body: Buffer): { functionOid: number } {
  return { functionOid: new BodyReader(body).int32() >>> 0 };
}

/** A PasswordMessage's payload as text (the token, in Airlock's case). */
export function decodePassword(body: Buffer): string {
  return new BodyReader(body).cstring();
}
