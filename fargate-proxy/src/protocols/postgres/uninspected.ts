// What the audit records of a statement it does not record as text (too large to inspect, or one
// that does not parse and is too large to mask on the event loop): its size and digest.
import { createHash } from 'node:crypto';

export function describeStatementBytes(utf8: Uint8Array): string {
  return `<statement of ${utf8.byteLength} bytes, sha256 ${createHash('sha256').update(utf8).digest('hex')}>`;
}
