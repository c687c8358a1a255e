// PostgreSQL's stored password verifiers, as pg_authid.rolpassword (and pg_shadow.passwd) hold
// them: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5803 form, base64 parts)
// and `md5` followed by 32 hex digits. Either is enough to attempt an offline guess of the password
// (and an md5 one to log in as that role over md5 authentication), so the whole value is masked.
import type { Finding } from '../types.js';

const SCRAM = /SCRAM-SHA-256\$\d{1,10}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}/g;
// `md5` + 32 hex digits, not inside a longer run of word characters.
const MD5 = /(?<![A-Za-z0-9_])md5[0-9a-f]{32}(?![A-Za-z0-9_])/g;

export function findPasswordHashes(text: string, out: Finding[]): void {
  if (text.includes('SCRAM-SHA-256$')) {
    for (const m of text.matchAll(SCRAM)) out.push({ detector: 'password_hash', start: m.index, end: m.index + m[0].length });
  }
  if (text.includes('md5')) {
    for (const m of text.matchAll(MD5)) out.push({ detector: 'password_hash', start: m.index, end: m.index + m[0].length });
  }
}
