// One output channel (stdout or stderr) on its way to the agent: the credential scrubbed from the
// raw bytes, then values masked a line at a time (LineMasker: where reads cut the stream changes
// nothing), and a partial line released after a short quiet so a prompt is not held back — all but
// a value still being written, which waits a little longer (the SSH shell relay's rule).
import type { Masker } from '../../../../../core/mask/index.js';
import { StreamScrubber } from '../../http/credential.js';
import { LineMasker } from '../../ssh/mask-stream.js';

const MASK_FLUSH_MS = 40;
const MASK_IDLE_MS = 1000;

export class OutputChannel {
  readonly #scrubber: StreamScrubber;
  readonly #masker?: LineMasker;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    revealing: readonly string[],
    masker: Masker | undefined,
    /** Receives what the agent may see, in order. */
    private readonly emit: (data: Buffer) => void,
  ) {
    this.#scrubber = new StreamScrubber(revealing);
    if (masker) this.#masker = new LineMasker(masker);
  }

  push(chunk: Buffer): void {
    const clean = this.#scrubber.push(chunk);
    if (!this.#masker) return this.#out(clean);
    this.#out(this.#masker.push(clean));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#out(this.#masker!.flush(false));
      if (this.#masker!.held > 0) this.#timer = setTimeout(() => this.#out(this.#masker!.flush()), MASK_IDLE_MS - MASK_FLUSH_MS);
    }, MASK_FLUSH_MS);
  }

  /** The stream ended: everything held goes. */
  end(): void {
    clearTimeout(this.#timer);
    const rest = this.#scrubber.end();
    if (!this.#masker) return this.#out(rest);
    this.#out(this.#masker.push(rest));
    this.#out(this.#masker.flush());
  }

  get masked(): { total: number; counts: Record<string, number> } {
    return { total: this.#masker?.masked ?? 0, counts: { ...this.#masker?.counts } };
  }

  #out(b: Buffer): void {
    if (b.length > 0) this.emit(b);
  }
}
