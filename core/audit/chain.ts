// Per-session hash chain: each record carries the hash of the one before it, so an edited, removed
// or reordered event breaks the chain; signed digests (digest.ts) pin the chain heads so a
// truncated tail or a recomputed chain is detected too.
import crypto, { createHash } from 'node:crypto';
import { LruCache } from '../lru.js';
import { AUDIT_SCHEMA_VERSION, type AuditEventInput, type AuditRecord } from './events.js';

const isPlain = (v: unknown): boolean => v === null || typeof v !== 'object';

/** Keys a plain object cannot hold in insertion order (array indices come first) or at all (`__proto__`). */
const UNORDERABLE_KEY = /^(?:0|[1-9]\d*)$|^__proto__$/;

/**
 * JSON with object keys sorted (by UTF-16 code units) at every level and undefined members left
 * out: the same event always hashes the same. It runs for every audit event on the statement
 * path, so the usual case (the event producers build their objects with keys in sorted order) is
 * rendered as it stands, by `renderOrdered`; anything else is copied with its keys sorted and left
 * to V8's JSON.stringify, and objects whose keys a copy cannot order are rendered by hand.
 */
export function canonicalJson(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    allFrozen = true;
    const ordered = renderOrdered(value);
    if (ordered !== NOT_ORDERED) return ordered;
  }
  const sorted = sortedCopy(value);
  return sorted === UNORDERABLE ? renderByHand(value) : (JSON.stringify(sorted) ?? 'null');
}

const UNORDERABLE = Symbol('unorderable');
const NOT_ORDERED = Symbol('not in canonical order');

/** Printable ASCII other than `"` and `\`: JSON writes such a string between quotes as it is. */
const VERBATIM = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * JSON renderings of large strings made elsewhere (a worker thread renders a large statement's
 * masked text): an event that carries one is rendered without a pass over megabytes on the event
 * loop. Few and large only; a long string's Map hash is its length, and a string compared with
 * itself is equal at once.
 */
const renderedLarge = new LruCache<string, string>(16);
const RENDERED_MIN_LENGTH = 4096;

/** `jsonString(text)`, to be used for `text` wherever it is rendered. Pass only what jsonString returns. */
export function rememberJsonRendering(text: string, json: string): void {
  if (text.length >= RENDERED_MIN_LENGTH) renderedLarge.set(text, json);
}

export const jsonString = (s: string): string => {
  if (s.length >= RENDERED_MIN_LENGTH) {
    const known = renderedLarge.get(s);
    if (known !== undefined) return known;
  }
  return VERBATIM.test(s) ? `"${s}"` : JSON.stringify(s);
};

/** Member names, rendered with their colon: events reuse a few dozen names. Bounded, names can be data. */
const memberNames = new Map<string, string>();
function memberName(key: string): string {
  let name = memberNames.get(key);
  if (name === undefined) {
    name = `${jsonString(key)}:`;
    if (memberNames.size < 4096) memberNames.set(key, name);
  }
  return name;
}

/**
 * Renderings of deep-frozen objects (a statement's table list, its decision): they cannot change,
 * and a session repeats them statement after statement.
 */
const frozenRenderings = new WeakMap<object, string>();
/** While an object is rendered: whether every object inside it so far is frozen. */
let allFrozen = true;

/**
 * `JSON.stringify(value)` when that is already the canonical form: every object in it is plain,
 * its keys come in sorted order, and no member is a function, symbol or bigint (the canonical
 * form writes the first two as null, and the general path reports the last). NOT_ORDERED
 * otherwise. Built by hand because V8's serializer costs about twice as much for the small,
 * string-heavy records the statement path writes (~1.8 against ~1.0 µs a record on the bench
 * machine), most of it in calls and escape scanning that strings of plain ASCII do not need.
 */
function renderOrdered(value: object): string | typeof NOT_ORDERED {
  const frozen = Object.isFrozen(value);
  if (frozen) {
    const known = frozenRenderings.get(value);
    if (known !== undefined) return known;
  }
  const outer = allFrozen;
  allFrozen = true;
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const json = item === undefined ? 'null' : renderMember(item);
      if (json === NOT_ORDERED) return NOT_ORDERED;
      out += i === 0 ? json : `,${json}`;
    }
    out += ']';
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return NOT_ORDERED;
    out = '{';
    let last: string | undefined;
    for (const key in value) {
      if ((last !== undefined && !(last < key)) || key === '__proto__') return NOT_ORDERED;
      last = key;
      const member: unknown = (value as Record<string, unknown>)[key];
      if (member === undefined) continue;
      const json = renderMember(member);
      if (json === NOT_ORDERED) return NOT_ORDERED;
      out += out.length === 1 ? memberName(key) + json : `,${memberName(key)}${json}`;
    }
    out += '}';
  }
  const deep = allFrozen && frozen;
  if (deep) frozenRenderings.set(value, out);
  allFrozen = outer && deep;
  return out;
}

function renderMember(v: unknown): string | typeof NOT_ORDERED {
  switch (typeof v) {
    case 'string':
      return jsonString(v);
    case 'number':
      return Number.isFinite(v) ? `${v}` : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      return v === null ? 'null' : renderOrdered(v);
    default:
      return NOT_ORDERED;
  }
}

/** The chain's own members, in sorted order, for merging into an event whose keys are sorted. */
const CHAIN_KEYS = ['at', 'prev', 'seq', 'v'] as const;

type ChainMembers = Record<(typeof CHAIN_KEYS)[number], unknown>;

/**
 * The record `{ v, sessionId, seq, at, ...body, prev }` built with its keys in sorted order, when
 * the input's own keys are sorted and it sets none of the chain's members; otherwise undefined.
 */
function sortedRecord(input: AuditEventInput, chain: ChainMembers): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let next = 0;
  let last: string | undefined;
  for (const key in input) {
    if (last !== undefined && !(last < key)) return undefined;
    last = key;
    if (key === 'at') continue;
    if (key === 'v' || key === 'seq' || key === 'prev' || key === 'hash' || key === '__proto__') return undefined;
    for (; next < CHAIN_KEYS.length && CHAIN_KEYS[next]! < key; next++) out[CHAIN_KEYS[next]!] = chain[CHAIN_KEYS[next]!];
    out[key] = (input as unknown as Record<string, unknown>)[key];
  }
  for (; next < CHAIN_KEYS.length; next++) out[CHAIN_KEYS[next]!] = chain[CHAIN_KEYS[next]!];
  return out;
}

// The two events every statement writes get their record from an object literal: V8 builds it in
// one step with a fixed layout, where merging keys one by one (sortedRecord) costs a keyed store
// each. The literal holds exactly the keys sortedRecord would copy, in the same (sorted) order, so
// the record and its rendering are the same; inputs with any other set of keys take sortedRecord.
const STATEMENT_KEYS = new Set(['approvalId', 'class', 'decision', 'functions', 'sessionId', 'statementId', 'statementTypes', 'tables', 'text', 'type']);
const OUTCOME_KEYS = new Set(['bytes', 'durationMs', 'error', 'masking', 'response', 'rows', 'sessionId', 'statementId', 'status', 'type']);

/** True when `input`'s own keys, `at` aside, are exactly `keys`. */
function hasExactly(input: object, keys: Set<string>): boolean {
  let n = 0;
  for (const key in input) {
    if (key === 'at') continue;
    if (!keys.has(key) || !Object.hasOwn(input, key)) return false;
    n++;
  }
  return n === keys.size;
}

function literalRecord(input: AuditEventInput, chain: ChainMembers): Record<string, unknown> | undefined {
  if (input.type === 'statement') {
    if (!hasExactly(input, STATEMENT_KEYS)) return undefined;
    const e = input;
    return {
      approvalId: e.approvalId,
      at: chain.at,
      class: e.class,
      decision: e.decision,
      functions: e.functions,
      prev: chain.prev,
      seq: chain.seq,
      sessionId: e.sessionId,
      statementId: e.statementId,
      statementTypes: e.statementTypes,
      tables: e.tables,
      text: e.text,
      type: e.type,
      v: chain.v,
    };
  }
  if (input.type === 'statement.outcome') {
    if (!hasExactly(input, OUTCOME_KEYS)) return undefined;
    const e = input;
    return {
      at: chain.at,
      bytes: e.bytes,
      durationMs: e.durationMs,
      error: e.error,
      masking: e.masking,
      prev: chain.prev,
      response: e.response,
      rows: e.rows,
      seq: chain.seq,
      sessionId: e.sessionId,
      statementId: e.statementId,
      status: e.status,
      type: e.type,
      v: chain.v,
    };
  }
  return undefined;
}

/** `new Date().toISOString()`, rendered once per millisecond: events of one millisecond share it. */
let clockMs = Number.NaN;
let clockIso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== clockMs) {
    clockMs = ms;
    clockIso = new Date(ms).toISOString();
  }
  return clockIso;
}

function sortedCopy(value: unknown): unknown {
  if (isPlain(value)) return value;
  if (Array.isArray(value)) {
    if (value.every(isPlain)) return value;
    const items: unknown[] = [];
    for (const item of value) {
      const copy = sortedCopy(item);
      if (copy === UNORDERABLE) return UNORDERABLE;
      items.push(copy);
    }
    return items;
  }
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record).sort()) {
    if (UNORDERABLE_KEY.test(key)) return UNORDERABLE;
    const member = record[key];
    if (member === undefined) continue;
    // JSON.stringify drops function members where the rendering by hand writes null.
    if (typeof member === 'function' || typeof member === 'symbol') {
      out[key] = null;
      continue;
    }
    const copy = sortedCopy(member);
    if (copy === UNORDERABLE) return UNORDERABLE;
    out[key] = copy;
  }
  return out;
}

function renderByHand(value: unknown): string {
  if (isPlain(value)) return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += item === undefined ? 'null' : renderByHand(item);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(key)}:${renderByHand(member)}`;
  }
  return `${out}}`;
}

// One-shot hashing (Node ≥ 20.12) skips building a Hash object: most of the cost for short events.
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }).hash;

export function sha256Hex(data: string | Uint8Array): string {
  return oneShot ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

/** The link before seq 1: bound to the session id so events cannot be grafted onto another session. */
export function genesisHash(sessionId: string): string {
  return sha256Hex(`airlock-audit/v${AUDIT_SCHEMA_VERSION}/genesis/${sessionId}`);
}

/** Hash of a record: everything but `hash` itself, `prev` included. */
export function recordHash(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...rest } = record;
  return sha256Hex(canonicalJson(rest));
}

/** A record as `SessionChains` renders it: the line to write, as text and as the bytes to write. */
export interface RenderedRecord {
  record: AuditRecord;
  /** The record's JSON line, without its newline. */
  line: string;
  /** `line` and its newline in UTF-8: what the hash was computed over, with the hash in place of the closing brace. */
  bytes: Buffer;
}

/** What replaces a canonical rendering's closing brace: `,"hash":"<64 hex>"}` and the newline, one byte more than the brace. */
const HASH_TAIL_BYTES = ',"hash":"'.length + 64 + '"}'.length + 1 - 1;

export interface ChainHead {
  seq: number;
  hash: string;
}

/** Assigns `seq` and chain links per session. One instance per writer; state lives in memory. */
export class SessionChains {
  private readonly heads = new Map<string, ChainHead>();

  head(sessionId: string): ChainHead | undefined {
    return this.heads.get(sessionId);
  }

  /** Seeds a session's head, e.g. from its file after a restart. */
  resume(sessionId: string, head: ChainHead): void {
    this.heads.set(sessionId, head);
  }

  forget(sessionId: string): void {
    this.heads.delete(sessionId);
  }

  /** Builds the next record without committing it: call `commit` once it was written. */
  next(input: AuditEventInput, now?: Date): AuditRecord {
    return this.nextWithLine(input, now).record;
  }

  /**
   * The next record and its JSON line (no newline): the canonical rendering the hash is computed
   * over, with the hash added last, so each event is rendered once. `bytes` is the line's UTF-8
   * with its newline, encoded once for both the hash and the write.
   */
  nextWithLine(input: AuditEventInput, now?: Date): RenderedRecord {
    const head = this.heads.get(input.sessionId);
    const chain = { at: input.at ?? (now ? now.toISOString() : isoNow()), prev: head?.hash ?? genesisHash(input.sessionId), seq: (head?.seq ?? 0) + 1, v: AUDIT_SCHEMA_VERSION };
    let unhashed = literalRecord(input, chain) ?? sortedRecord(input, chain);
    if (!unhashed) {
      const { sessionId, at: _at, ...body } = input;
      unhashed = { v: chain.v, sessionId, seq: chain.seq, at: chain.at, ...body, prev: chain.prev };
    }
    const canonical = canonicalJson(unhashed);
    const record = unhashed as unknown as AuditRecord;
    // The canonical form is an object rendering, so it ends with '}' and holds no "hash" member
    // yet: the hash goes in its place, in the same buffer.
    // Counting the bytes flattens the rendering once, for the encoding and the line alike.
    const n = Buffer.byteLength(canonical);
    const bytes = Buffer.allocUnsafe(n + HASH_TAIL_BYTES);
    bytes.write(canonical, 0, n, 'utf8');
    record.hash = sha256Hex(new Uint8Array(bytes.buffer, bytes.byteOffset, n));
    bytes.write(`,"hash":"${record.hash}"}\n`, n - 1, 'latin1');
    return { record: record as AuditRecord, line: `${canonical.slice(0, -1)},"hash":"${record.hash}"}`, bytes };
  }

  commit(record: AuditRecord): void {
    this.heads.set(record.sessionId, { seq: record.seq, hash: record.hash });
  }
}
