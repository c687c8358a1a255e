// Credentials that announce themselves with a vendor prefix. Each regex starts with a literal
// prefix, has no nested quantifiers and bounded repetition, so matching is linear in the text.
import { charTests } from '../chars.js';
import type { DetectorName, Finding } from '../types.js';

const { isDigit, isLower, isUpper } = charTests;

interface PrefixedToken {
  detector: DetectorName;
  regex: RegExp;
  /** Extra evidence beyond the shape, for prefixes that ordinary words could share. */
  accept?: (match: string) => boolean;
}

/** Random keys mix digits and both cases; slugs and prose ("sk-my-long-title") don't. */
function mixedCharacters(s: string): boolean {
  let digit = false;
  let upper = false;
  let lower = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    digit ||= isDigit(c);
    upper ||= isUpper(c);
    lower ||= isLower(c);
  }
  return digit && upper && lower;
}

export const PREFIXED_TOKENS: PrefixedToken[] = [
  {
    detector: 'aws_access_key',
    regex: /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  },
  {
    detector: 'github_token',
    regex: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])/g,
  },
  {
    detector: 'gitlab_token',
    regex: /(?<![A-Za-z0-9_-])(?:glpat|gldt|glrt|glptt|glsoat|gloas)-[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])/g,
  },
  {
    detector: 'slack_token',
    regex: /(?<![A-Za-z0-9_-])(?:xox[baprse]-[A-Za-z0-9-]{10,250}|xapp-[0-9]-[A-Za-z0-9-]{10,250})(?![A-Za-z0-9_-])/g,
  },
  {
    detector: 'stripe_key',
    regex: /(?<![A-Za-z0-9_])(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}|whsec_[A-Za-z0-9]{24,250})(?![A-Za-z0-9_])/g,
  },
  {
    detector: 'openai_key',
    regex: /(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-|ant-api\d\d-|ant-admin\d\d-)?[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])/g,
    accept: mixedCharacters,
  },
];

// One cheap test for any vendor prefix before running the per-vendor regexes.
const ANY_PREFIX = /A[KSBCGIRPN][A-Z]A|gh[pousr]_|github_pat_|gl[a-z]{2,4}-|xox[a-z]-|xapp-|sk_|rk_|whsec_|sk-/;

export function findPrefixedTokens(text: string, enabled: (d: DetectorName) => boolean, out: Finding[]): void {
  if (!ANY_PREFIX.test(text)) return;
  for (const token of PREFIXED_TOKENS) {
    if (!enabled(token.detector)) continue;
    token.regex.lastIndex = 0;
    for (const m of text.matchAll(token.regex)) {
      if (token.accept && !token.accept(m[0])) continue;
      out.push({ detector: token.detector, start: m.index, end: m.index + m[0].length });
    }
  }
}
