// Replacements must not break JSON held in a cell: a number outside any string (e.g. a card number
// stored as a JSON number) is replaced by a quoted placeholder. This finds which offsets lie
// inside JSON string literals, in one pass.

/** Cheap test: does this value look like a JSON document? */
export function looksLikeJson(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === ' ' || c === '\n' || c === '\t' || c === '\r') continue;
    return c === '{' || c === '[';
  }
  return false;
}

/** For each (ascending) offset, whether it is inside a JSON string literal. */
export function insideJsonStrings(text: string, offsets: number[]): boolean[] {
  const result: boolean[] = [];
  let inString = false;
  let k = 0;
  for (let i = 0; i < text.length && k < offsets.length; i++) {
    while (k < offsets.length && offsets[k]! <= i) {
      result.push(inString);
      k++;
    }
    const c = text[i];
    if (inString && c === '\\') i++;
    else if (c === '"') inString = !inString;
  }
  while (result.length < offsets.length) result.push(inString);
  return result;
}
