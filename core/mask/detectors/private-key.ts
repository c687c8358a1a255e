// PEM private key blocks (RSA, EC, DSA, OPENSSH, ENCRYPTED, PKCS#8), BEGIN line to END line.
// A block with no END (truncated output) is masked to the end of the text.
import type { Finding } from '../types.js';

const BEGIN = '-----BEGIN ';
const DASHES = '-----';

export function findPrivateKeys(text: string, out: Finding[]): void {
  let i = text.indexOf(BEGIN);
  while (i !== -1) {
    const labelEnd = text.indexOf(DASHES, i + BEGIN.length);
    const label = labelEnd === -1 ? '' : text.slice(i + BEGIN.length, labelEnd);
    if (labelEnd === -1 || labelEnd - i > 64 || !label.endsWith('PRIVATE KEY')) {
      i = text.indexOf(BEGIN, i + BEGIN.length);
      continue;
    }
    const endMarker = text.indexOf(`-----END ${label}-----`, labelEnd);
    const end = endMarker === -1 ? text.length : endMarker + `-----END ${label}-----`.length;
    out.push({ detector: 'private_key', start: i, end });
    i = text.indexOf(BEGIN, end);
  }
}
