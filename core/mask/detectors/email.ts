// E-mail addresses, found from each '@' by expanding left over the local part and right over the
// domain, both bounded (64 / 253 chars), so the cost is linear in the text.
import { charTests } from '../chars.js';
import type { Finding } from '../types.js';

const { at, isAlnum, isAlpha } = charTests;

const DOT = 46;
const DASH = 45;
const isDotOrDash = (c: number): boolean => c === DOT || c === DASH;
// . _ % + - (as code units: the scan runs per character and must not build strings).
const isLocalSpecial = (c: number): boolean => c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
// "icon@2x.png" and friends: asset names, not mailboxes.
const FILE_TLDS = ['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'bmp', 'tif', 'tiff', 'avif'];
const SLASH = 47;
const COLON = 58;
const AT = 64;

/** text[from, to) is one of FILE_TLDS in any case; compared by code unit, no string is built. */
function isFileTld(text: string, from: number, to: number): boolean {
  next: for (const tld of FILE_TLDS) {
    if (tld.length !== to - from) continue;
    // The TLD is letters only here, so setting bit 0x20 lower-cases it.
    for (let i = 0; i < tld.length; i++) if ((text.charCodeAt(from + i) | 0x20) !== tld.charCodeAt(i)) continue next;
    return true;
  }
  return false;
}

export function findEmails(text: string, out: Finding[]): void {
  let at0 = text.indexOf('@');
  while (at0 !== -1) {
    const found = emailAround(text, at0);
    if (found) out.push(found);
    at0 = text.indexOf('@', found ? found.end : at0 + 1);
  }
}

function emailAround(text: string, atIndex: number): Finding | undefined {
  let start = atIndex;
  while (start > 0 && atIndex - start < 64) {
    const c = text.charCodeAt(start - 1);
    if (isAlnum(c) || isLocalSpecial(c)) start--;
    else break;
  }
  // Trim leading dots/dashes that belong to surrounding prose.
  while (start < atIndex && isDotOrDash(text.charCodeAt(start))) start++;
  if (start === atIndex || text.charCodeAt(atIndex - 1) === DOT) return undefined;
  for (let i = start + 1; i < atIndex; i++) if (text.charCodeAt(i) === DOT && text.charCodeAt(i - 1) === DOT) return undefined;

  let end = atIndex + 1;
  while (end < text.length && end - atIndex <= 253) {
    const c = text.charCodeAt(end);
    if (isAlnum(c) || c === DASH || c === DOT) end++;
    else break;
  }
  // A sentence may end right after the address.
  while (end > atIndex + 1 && isDotOrDash(text.charCodeAt(end - 1))) end--;
  // The domain: two or more dot-separated labels of 1–63 characters, none starting or ending with '-'.
  let labels = 0;
  let labelStart = atIndex + 1;
  let tldStart = labelStart;
  for (let i = labelStart; i <= end; i++) {
    if (i < end && text.charCodeAt(i) !== DOT) continue;
    const length = i - labelStart;
    if (length === 0 || length > 63 || text.charCodeAt(labelStart) === DASH || text.charCodeAt(i - 1) === DASH) return undefined;
    labels++;
    tldStart = labelStart;
    labelStart = i + 1;
  }
  if (labels < 2) return undefined;
  if (end - tldStart < 2 || end - tldStart > 24) return undefined;
  for (let i = tldStart; i < end; i++) if (!isAlpha(text.charCodeAt(i))) return undefined;
  if (isFileTld(text, tldStart, end)) return undefined;
  // "user:pass@host" — the part before '@' is a credential, left to the connection-string detector.
  // "scheme://user@host" names a login, not a mailbox. (Code units through `at`: an index outside
  // the string, as text[-1], is a slow generic lookup in V8.)
  const before = at(text, start - 1);
  if (before === SLASH && at(text, start - 2) === SLASH) return undefined;
  if (before === COLON && text.slice(Math.max(0, start - 256), start).includes('://')) return undefined;
  const after = at(text, end);
  if (isAlnum(after) || after === AT) return undefined;
  return { detector: 'email', start, end };
}
