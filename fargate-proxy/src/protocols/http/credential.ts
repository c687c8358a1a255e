// The upstream credential: fetched from the secrets port into memory, added to each forwarded
// request, and scrubbed from anything the upstream sends back (an echo endpoint, a debug header),
// so the agent can never read it whatever the upstream does.
import type { Secret } from '../../ports/secrets.js';
import type { HttpCredential } from './config.js';

export interface InjectedCredential {
  /** Header name and value added to the upstream request; undefined for `none`. */
  header?: { name: string; value: string };
  /** Every string that would reveal the credential if the agent saw it. */
  revealing: string[];
}

export function injectCredential(cfg: HttpCredential, secret: Secret | undefined): InjectedCredential {
  if (cfg.type === 'none' || !secret) return { revealing: [] };
  const value = secret.reveal();
  switch (cfg.type) {
    case 'bearer':
      return { header: { name: 'authorization', value: `Bearer ${value}` }, revealing: [value] };
    case 'header':
      return { header: { name: cfg.header.toLowerCase(), value }, revealing: [value] };
    case 'basic': {
      const encoded = Buffer.from(`${cfg.username}:${value}`, 'utf8').toString('base64');
      return { header: { name: 'authorization', value: `Basic ${encoded}` }, revealing: [value, encoded] };
    }
  }
}

export const SCRUBBED = '[airlock:credential]';

/** Replaces every revealing string in `s` (short secrets are still replaced: a 4-byte key leaks as surely as a long one). */
export function scrubText(s: string, revealing: readonly string[]): string {
  let out = s;
  for (const r of revealing) if (r && out.includes(r)) out = out.split(r).join(SCRUBBED);
  return out;
}

/**
 * A streaming byte scrubber: holds back a chunk's last bytes while they could begin a secret, so a
 * secret split across chunks is still found. Works on raw bytes (any content type).
 */
export class StreamScrubber {
  private readonly needles: Buffer[];
  private readonly keep: number;
  private tail = Buffer.alloc(0);
  /** How many times a credential was found and replaced. */
  hits = 0;

  constructor(revealing: readonly string[]) {
    this.needles = revealing.filter(Boolean).map((r) => Buffer.from(r, 'utf8'));
    this.keep = Math.max(0, ...this.needles.map((n) => n.length - 1));
  }

  get active(): boolean {
    return this.needles.length > 0;
  }

  push(chunk: Buffer): Buffer {
    if (!this.active) return chunk;
    let buf = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    buf = this.replace(buf);
    const cut = buf.length - this.heldBack(buf);
    this.tail = Buffer.from(buf.subarray(cut));
    return buf.subarray(0, cut);
  }

  end(): Buffer {
    const rest = this.replace(this.tail);
    this.tail = Buffer.alloc(0);
    return rest;
  }

  /** Only a suffix that could begin a secret is held back; an SSE event's end is not delayed by it. */
  private heldBack(buf: Buffer): number {
    for (let k = Math.min(this.keep, buf.length); k > 0; k--) {
      const suffix = buf.subarray(buf.length - k);
      if (this.needles.some((n) => n.length > k && n.subarray(0, k).equals(suffix))) return k;
    }
    return 0;
  }

  private replace(buf: Buffer): Buffer {
    for (const n of this.needles) {
      let at = buf.indexOf(n);
      if (at < 0) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at >= 0) {
        this.hits++;
        parts.push(buf.subarray(from, at), Buffer.from(SCRUBBED));
        from = at + n.length;
        at = buf.indexOf(n, from);
      }
      parts.push(buf.subarray(from));
      buf = Buffer.concat(parts);
    }
    return buf;
  }
}
