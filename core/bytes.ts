// Byte views that continue one another in memory (pieces of one socket read, relayed in order) can
// travel as one view: no copy to join them, one piece to encode, one write.

/** `a` followed by `b` as one view when `b` starts exactly where `a` ends in the same memory; otherwise undefined. */
export function joinedView(a: Uint8Array, b: Uint8Array): Buffer | undefined {
  if (a.buffer !== b.buffer || a.byteOffset + a.byteLength !== b.byteOffset) return undefined;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength + b.byteLength);
}

/** Appends `b` to `list`, as an extension of the last view when it continues it. */
export function pushJoined(list: Buffer[], b: Buffer): void {
  const last = list.length - 1;
  const joined = last >= 0 ? joinedView(list[last]!, b) : undefined;
  if (joined) list[last] = joined;
  else list.push(b);
}
