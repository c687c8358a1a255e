// E-mail addresses, found from each '@' by expanding left over the local part and right over the
// domain, both bounded (64 / 253 chars), so the cost is linear in the text.
import { charTests } from '../chars.js';
import type { Finding } from '../types.js';

const { at, isAlnum, isAlpha } = charTests;

const LOCAL_SPECIALS = new Set(['.', '_', '%', '+', '-']);
// "icon@2x.png" and friends: asset names, not mailboxes.
const FILE_TLDS = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'bmp', 'tif', 'tiff', 'avif']);

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
    if (isAlnum(c) || LOCAL_SPECIALS.has(text[start - 1]!)) start--;
    else break;
  }
  // Trim leading dots/dashes that belong to surrounding prose.
  while (start < atIndex && (text[start] === '.' || text[start] === '-')) start++;
  if (start === atIndex || text[atIndex - 1] === '.') return undefined;
  if (text.slice(start, atIndex).includes('..')) return undefined;

  let end = atIndex + 1;
  while (end < text.length && end - atIndex <= 253) {
    const c = text.charCodeAt(end);
    if (isAlnum(c) || c === 45 || c === 46) end++;
    else break;
  }
  // A sentence may end right after the address.
  while (end > atIndex + 1 && (text[end - 1] === '.' || text[end - 1] === '-')) end--;
  const domain = text.slice(atIndex + 1, end);
  const labels = domain.split('.');
  if (labels.length < 2) return undefined;
  for (const label of labels) {
    if (label.length === 0 || label.length > 63 || label.startsWith('-') || label.endsWith('-')) return undefined;
  }
  const tld = labels[labels.length - 1]!;
  if (tld.length < 2 || tld.length > 24) return undefined;
  for (let i = 0; i < tld.length; i++) if (!isAlpha(tld.charCodeAt(i))) return undefined;
  if (FILE_TLDS.has(tld.toLowerCase())) return undefined;
  // "user:pass@host" — the part before '@' is a credential, left to the connection-string detector.
  // "scheme://user@host" names a login, not a mailbox.
  if (text[start - 1] === '/' && text[start - 2] === '/') return undefined;
  if (text[start - 1] === ':' && text.slice(Math.max(0, start - 256), start).includes('://')) return undefined;
  if (isAlnum(at(text, end)) || text[end] === '@') return undefined;
  return { detector: 'email', start, end };
}
