// The one reading of a request path. Policy decides on the canonical path, and the gateway forwards
// exactly that path (re-encoded), so the upstream can only route what was decided: an evasion such
// as `/%61dmin`, `/./admin` or `//admin` becomes `/admin` before the decision, not after it.
// What has no single reading (an encoded `/` or `\`, invalid or overlong UTF-8, a climb above the
// target's base path) is refused.

export interface PathRules {
  /** false: decided and forwarded lower-cased (the upstream treats case as equal). */
  caseSensitive: boolean;
  /** `;` parameters: refused, or stripped from each segment. */
  semicolons: 'refuse' | 'strip';
  /** `/a/` read as `/a`, or kept. */
  trailingSlash: 'strip' | 'keep';
}

export type CanonicalPath =
  | { ok: true; /** decoded, for policy */ path: string; /** percent-encoded, for the upstream */ encoded: string }
  | { ok: false; code: 'path_encoded_separator' | 'path_bad_encoding' | 'path_above_base' | 'path_parameters' | 'path_bad_character'; detail: string };

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });
const HEX = /^[0-9A-Fa-f]{2}$/;

/** Percent-decodes one segment to bytes, then UTF-8 (strictly: overlong forms and surrogates are errors). */
function decodeSegment(raw: string): string | { code: 'path_bad_encoding' | 'path_encoded_separator' | 'path_bad_character'; detail: string } {
  if (!raw.includes('%')) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return { code: 'path_bad_encoding', detail: `"%${hex}" is not a percent-encoded byte` };
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      // The request target is ASCII (the parser refused anything else); copy as is.
      bytes.push(c);
    }
  }
  let text: string;
  try {
    text = fatalUtf8.decode(Uint8Array.from(bytes));
  } catch {
    return { code: 'path_bad_encoding', detail: 'the path is not valid UTF-8 once decoded (overlong or truncated sequence)' };
  }
  // Upstreams disagree on whether %2F separates segments; there is no one reading, so no decision.
  if (text.includes('/') || text.includes('\\')) return { code: 'path_encoded_separator', detail: 'an encoded "/" or "\\" in the path' };
  return text;
}

// Characters kept as they are in a re-encoded segment (RFC 3986 pchar minus "%" and ";").
const KEEP = /[A-Za-z0-9\-._~!$&'()*+,=:@]/;

export function encodeSegment(s: string): string {
  let out = '';
  for (const ch of s) {
    if (KEEP.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * `rawPath` is the request target's path below the target name (starting with "/", no query).
 * Dot segments are resolved after decoding (so `%2e%2e` is `..`), and may not climb above "/".
 */
export function canonicalPath(rawPath: string, rules: PathRules): CanonicalPath {
  if (!rawPath.startsWith('/')) return { ok: false, code: 'path_bad_character', detail: 'the path must start with "/"' };
  if (rawPath.includes('\\')) return { ok: false, code: 'path_bad_character', detail: 'a "\\" in the path' };
  const out: string[] = [];
  const parts = rawPath.slice(1).split('/');
  for (let i = 0; i < parts.length; i++) {
    let raw = parts[i]!;
    const last = i === parts.length - 1;
    if (raw.includes(';')) {
      if (rules.semicolons === 'refuse') return { ok: false, code: 'path_parameters', detail: '";" parameters in the path' };
      raw = raw.slice(0, raw.indexOf(';'));
    }
    const seg = decodeSegment(raw);
    if (typeof seg !== 'string') return { ok: false, ...seg };
    // Control characters and NUL have no place in a route; some servers truncate at NUL.
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(seg)) return { ok: false, code: 'path_bad_character', detail: 'a control character in the path' };
    if (seg === '' || seg === '.') {
      // Duplicate slashes merge; a trailing "/" or "/." leaves an empty last segment.
      if (last && out.length > 0) out.push('');
      continue;
    }
    if (seg === '..') {
      // Popping an empty trailing marker first keeps "/a/./.." at "/".
      while (out.length > 0 && out[out.length - 1] === '') out.pop();
      if (out.length === 0) return { ok: false, code: 'path_above_base', detail: 'the path climbs above the target\'s base path' };
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(rules.caseSensitive ? seg : seg.toLowerCase());
  }
  while (rules.trailingSlash === 'strip' && out.length > 0 && out[out.length - 1] === '') out.pop();
  // A trailing marker may be left twice by "/a//" style input: keep one.
  while (out.length > 1 && out[out.length - 1] === '' && out[out.length - 2] === '') out.pop();
  const path = `/${out.join('/')}`;
  return { ok: true, path, encoded: `/${out.map(encodeSegment).join('/')}` };
}
