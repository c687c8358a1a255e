// Masks a byte stream line by line, so a secret split across two chunks is still seen whole.
// Memory is bounded: a line longer than the cap is masked and sent in pieces.
import type { Masker } from '../../../../core/mask/index.js';

const MAX_LINE = 64 * 1024;

export class LineMasker {
  #pending = '';
  /** Values masked, per detector (`detector:<name>`), for the outcome's masking summary. */
  readonly counts: Record<string, number> = {};
  /** Values masked in all. */
  masked = 0;
  constructor(private readonly masker: Masker) {}

  push(chunk: Buffer): Buffer {
    const text = this.#pending + chunk.toString('utf8');
    const cut = text.lastIndexOf('\n') + 1;
    let ready = text.slice(0, cut);
    this.#pending = text.slice(cut);
    if (this.#pending.length > MAX_LINE) {
      ready += this.#pending;
      this.#pending = '';
    }
    return this.#mask(ready);
  }

  flush(): Buffer {
    const rest = this.#pending;
    this.#pending = '';
    return this.#mask(rest);
  }

  #mask(text: string): Buffer {
    if (!text) return Buffer.alloc(0);
    // The masker is shared by the gateway's SSH sessions and counts globally; taking its summary
    // right before and after this synchronous call isolates exactly what this text contributed.
    this.masker.takeSummary();
    const masked = this.masker.maskText(text);
    for (const [detector, n] of Object.entries(this.masker.takeSummary().detectors)) {
      if (!n) continue;
      this.counts[`detector:${detector}`] = (this.counts[`detector:${detector}`] ?? 0) + n;
      this.masked += n;
    }
    return Buffer.from(masked ?? text, 'utf8');
  }
}
