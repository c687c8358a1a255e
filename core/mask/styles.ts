// How a sensitive span is rewritten. Every style is a pure function of (label, raw value, keys).
import { createHmac } from 'node:crypto';
import { charTests } from './chars.js';
import { ibanChecksumValid, luhnValid } from './checksums.js';
import type { DetectorName, MaskStyle } from './types.js';

const { isDigit, isLower, isUpper, isAlnum } = charTests;

/** What was masked: a detector, or `column` when a column rule masked the whole cell. */
export type MaskLabel = DetectorName | 'column';

export interface StyleKeys {
  /** Tenant key for `tokenize`; absent means tokenize is not configured. */
  token?: Buffer;
  /** Key for `format-preserving` (derived from the tenant key, or random per masker). */
  formatPreserving: Buffer;
}

// Detectors whose values have a meaningful, non-secret tail (last 4 digits) or domain.
const PARTIAL_LAST4 = new Set<MaskLabel>(['card', 'phone', 'ssn', 'iban', 'column']);

export function applyStyle(style: MaskStyle, label: MaskLabel, raw: string, keys: StyleKeys): string {
  switch (style) {
    case 'redact':
      return redact(label);
    case 'tokenize':
      return tokenize(label, raw, keys);
    case 'partial':
      return partial(label, raw);
    case 'format-preserving':
      return formatPreserving(label, raw, keys.formatPreserving);
  }
}

const REDACTED = new Map<MaskLabel, string>();

/** Square brackets and a capitalised tag: no card, phone, e-mail or key looks like this. */
export function redact(label: MaskLabel): string {
  // One string per label: a masked stream writes it for every row.
  let r = REDACTED.get(label);
  if (r === undefined) REDACTED.set(label, (r = `[REDACTED:${label}]`));
  return r;
}

/** Same value + same key → same token, so equality joins and counts still work on masked data. */
export function tokenize(label: MaskLabel, raw: string, keys: StyleKeys): string {
  if (!keys.token) return redact(label); // unreachable when the config was validated
  const digest = createHmac('sha256', keys.token).update(normalise(label, raw)).digest('hex');
  return `[TOKEN:${label}:${digest.slice(0, 16)}]`;
}

/** Separators and case don't change identity: "4111 1111-…" and "4111111…" tokenize alike. */
function normalise(label: MaskLabel, raw: string): string {
  switch (label) {
    case 'card':
    case 'phone':
    case 'ssn':
      return raw.replace(/\D/g, '');
    case 'iban':
      return raw.replace(/\s/g, '').toUpperCase();
    case 'email':
      return raw.toLowerCase();
    case 'column':
      return raw.trim();
    default:
      return raw;
  }
}

/** Keep the last four characters of numbers, the domain of e-mail addresses; secrets are redacted. */
export function partial(label: MaskLabel, raw: string): string {
  const atIndex = raw.indexOf('@');
  if ((label === 'email' || label === 'column') && atIndex > 0 && atIndex === raw.lastIndexOf('@')) {
    return `***${raw.slice(atIndex)}`;
  }
  if (!PARTIAL_LAST4.has(label)) return redact(label);
  let alnum = 0;
  for (let i = 0; i < raw.length; i++) if (isAlnum(raw.charCodeAt(i))) alnum++;
  // Showing 4 of fewer than 8 characters would show most of the value.
  const keep = alnum >= 8 ? 4 : 0;
  let seen = 0;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (isAlnum(c)) {
      seen++;
      out += seen > alnum - keep ? raw[i] : '*';
    } else {
      out += raw[i];
    }
  }
  return out;
}

/**
 * Same length and shape: digits become digits, letters letters of the same case, everything else
 * stays. Derived from a keyed HMAC, so it is stable for a key. Results are made deliberately
 * invalid where a checksum exists (a masked card fails Luhn, a masked IBAN fails mod-97, a masked
 * SSN gets area 9xx, which is never issued), so masked output can't pass for real data.
 */
export function formatPreserving(label: MaskLabel, raw: string, key: Buffer): string {
  const stream = keyStream(key, `${label}\0${raw}`, raw.length);
  const chars = raw.split('');
  for (let i = 0; i < chars.length; i++) {
    const c = raw.charCodeAt(i);
    const b = stream[i]!;
    if (isDigit(c)) chars[i] = String(b % 10);
    else if (isUpper(c)) chars[i] = String.fromCharCode(65 + (b % 26));
    else if (isLower(c)) chars[i] = String.fromCharCode(97 + (b % 26));
  }
  const digitsAt = chars.flatMap((ch, i) => (isDigit(ch.charCodeAt(0)) ? [i] : []));
  const bump = (i: number): void => {
    chars[i] = String((Number(chars[i]) + 1) % 10);
  };
  if (label === 'card' && digitsAt.length > 0 && luhnValid(digitsAt.map((i) => chars[i]).join(''))) {
    bump(digitsAt[digitsAt.length - 1]!);
  }
  if (label === 'ssn' && digitsAt.length > 0) chars[digitsAt[0]!] = '9';
  if (label === 'iban') {
    const compactAt = chars.flatMap((ch, i) => (isAlnum(ch.charCodeAt(0)) ? [i] : []));
    const checkDigit = compactAt[3];
    if (checkDigit !== undefined && ibanChecksumValid(compactAt.map((i) => chars[i]).join(''))) bump(checkDigit);
  }
  return chars.join('');
}

function keyStream(key: Buffer, input: string, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0, have = 0; have < length; i++, have += 32) {
    blocks.push(createHmac('sha256', key).update(`${i}\0${input}`).digest());
  }
  return Buffer.concat(blocks);
}
