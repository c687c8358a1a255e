// Passwords inside URLs: scheme://user:PASSWORD@host. Only the password is reported, so the
// user and host stay readable for debugging. The authority ends at the last '@' before '/', '?',
// '#', whitespace or a quote; a password containing an unescaped '/' is therefore cut short.
import { charTests } from '../chars.js';
import type { Finding } from '../types.js';

const { isAlnum } = charTests;

const MAX_AUTHORITY = 512;
const AUTHORITY_END = new Set(['/', '?', '#', ' ', '\t', '\n', '\r', '"', "'", '`', '<', '>', '\\']);

export function findConnectionPasswords(text: string, out: Finding[]): void {
  let i = text.indexOf('://');
  while (i !== -1) {
    if (hasScheme(text, i)) {
      const from = i + 3;
      let end = from;
      let lastAt = -1;
      while (end < text.length && end - from < MAX_AUTHORITY && !AUTHORITY_END.has(text[end]!)) {
        if (text[end] === '@') lastAt = end;
        end++;
      }
      if (lastAt !== -1) {
        const colon = text.indexOf(':', from);
        if (colon !== -1 && colon < lastAt - 1) out.push({ detector: 'connection_password', start: colon + 1, end: lastAt });
      }
    }
    i = text.indexOf('://', i + 3);
  }
}

function hasScheme(text: string, sep: number): boolean {
  let s = sep;
  while (s > 0 && sep - s < 32) {
    const c = text.charCodeAt(s - 1);
    if (isAlnum(c) || c === 43 || c === 45 || c === 46) s--;
    else break;
  }
  return sep - s >= 2;
}
