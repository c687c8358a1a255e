// Character tests on UTF-16 code units; the scanners use these instead of regexes to stay linear.

export const isDigit = (c: number): boolean => c >= 48 && c <= 57;
export const isUpper = (c: number): boolean => c >= 65 && c <= 90;
export const isLower = (c: number): boolean => c >= 97 && c <= 122;
export const isAlpha = (c: number): boolean => isUpper(c) || isLower(c);
export const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);

/** Letters, digits, `_` and `-`: the alphabet of most API tokens (base64url included). */
export const isTokenChar = (c: number): boolean => isAlnum(c) || c === 95 || c === 45;

/** Code unit at i, or -1 outside the string (so tests like isAlnum(at(s, -1)) are false). */
export function at(s: string, i: number): number {
  return i >= 0 && i < s.length ? s.charCodeAt(i) : -1;
}

export function allDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return s.length > 0;
}

/**
 * The same tests as one object, for hot loops: modules destructure it into local constants once.
 * Under tsx, every use of an imported binding goes through an accessor, which made per-character
 * calls ~15× slower than local ones.
 */
export const charTests = { isDigit, isUpper, isLower, isAlpha, isAlnum, isTokenChar, at } as const;
