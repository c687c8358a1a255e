// The query parameter names policy sees (`context.queryParams`): every name an upstream framework
// could read the query as naming, not just WHATWG's. A policy that forbids `all` must also see it in
// `?all[]=1` (qs — Express 4's and body-parser's parser —, PHP and Rack read that as `all`), in
// `?x=1;all=1` (Rack 2 and Python before 3.9.2 also split on ";") and in `?a.b=1` as PHP's `a_b`.
// More names only make a `contains` forbid match, or an allow-list (`["q"].containsAll(...)`) fail.

/**
 * `application/x-www-form-urlencoded` decodings of one name (`+` is a space). Where the name holds a
 * bad escape, parsers differ: qs keeps the whole name undecoded, others decode what they can.
 */
function decodeName(raw: string): string[] {
  const s = raw.replace(/\+/g, ' ');
  try {
    return [decodeURIComponent(s)];
  } catch {
    return [s, s.replace(/%([0-9A-Fa-f]{2})/g, (m, h: string) => (parseInt(h, 16) < 0x80 ? String.fromCharCode(parseInt(h, 16)) : m))];
  }
}

export function queryParamNames(query: string): string[] {
  const names = new Set<string>();
  const add = (name: string) => {
    names.add(name);
    // `a[b][c]`, `a[]`: the parameter `a` to qs, PHP and Rack; qs reads `[a]` as `a` too.
    const bracket = name.indexOf('[');
    const base = bracket > 0 ? name.slice(0, bracket) : bracket === 0 ? (/^\[([^[\]]*)\]/.exec(name)?.[1] ?? name) : name;
    names.add(base);
    // PHP turns "." and " " in a name (and an unmatched "[") into "_".
    names.add(base.replace(/[. []/g, '_'));
  };
  for (const name of new URLSearchParams(query).keys()) add(name);
  for (const separators of [/&/, /[&;]/]) {
    for (const pair of query.split(separators)) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      for (const name of decodeName(eq < 0 ? pair : pair.slice(0, eq))) add(name);
      // qs decodes %5B and %5D first and then ends a bracketed name at "]=" (`a[=]=1` is `a[=]`).
      const brackets = pair.replace(/%5B/gi, '[').replace(/%5D/gi, ']');
      const end = brackets.indexOf(']=');
      if (end >= 0) for (const name of decodeName(brackets.slice(0, end + 1))) add(name);
    }
  }
  return [...names];
}
