// Turns the keystrokes an agent sends to an interactive shell into whole lines, so each line can be
// inspected before any of it reaches the server. The gateway applies the simple editing keys itself
// (backspace, ^U, ^W) and forwards the resulting text, so the server runs exactly what was inspected.
// Keys whose effect depends on the server's line editor (tab completion, arrows and history, escape
// sequences, bracketed paste) make the line impossible to vouch for: it is rejected, never guessed.

export type TypedInput =
  /** A complete line: inspect `text`; if allowed, forward `text + terminator`. */
  | { kind: 'line'; text: string; terminator: string }
  /** A key that acts at once (interrupt, end of input, suspend): forward `bytes` as they are. The pending line is dropped. */
  | { kind: 'control'; name: string; bytes: Buffer }
  /** A line the gateway cannot interpret: refuse it, forward nothing. */
  | { kind: 'rejected'; reason: string };

const BACKSPACE = new Set([0x7f, 0x08]);
const IMMEDIATE: Record<number, string> = { 0x03: 'interrupt (^C)', 0x1a: 'suspend (^Z)', 0x1c: 'quit (^\\)' };

export class LineAssembler {
  #line: number[] = [];
  #taint: string | undefined;
  #afterCR = false;

  /** `maxLineBytes`: longest line held for inspection; a longer one is rejected whole. */
  constructor(private readonly maxLineBytes = 16 * 1024) {}

  /** The text typed so far on the current line (for diagnostics; never forwarded as is). */
  get pending(): string {
    return Buffer.from(this.#line).toString('utf8');
  }

  push(chunk: Uint8Array): TypedInput[] {
    const out: TypedInput[] = [];
    for (const byte of chunk) {
      const afterCR = this.#afterCR;
      this.#afterCR = false;
      if (byte === 0x0d || byte === 0x0a) {
        // A terminal sends CR; a pipe sends LF; some clients send CR LF: that is one line end.
        if (byte === 0x0a && afterCR) continue;
        this.#afterCR = byte === 0x0d;
        out.push(this.#finish(String.fromCharCode(byte)));
      } else if (IMMEDIATE[byte]) {
        this.#reset();
        out.push({ kind: 'control', name: IMMEDIATE[byte], bytes: Buffer.from([byte]) });
      } else if (byte === 0x04) {
        // ^D ends input only on an empty line; elsewhere readline deletes under the cursor, which at the end of a line is nothing.
        if (this.#line.length === 0 && !this.#taint) out.push({ kind: 'control', name: 'end of input (^D)', bytes: Buffer.from([byte]) });
      } else if (BACKSPACE.has(byte)) {
        this.#eraseChar();
      } else if (byte === 0x15) {
        this.#line = [];
      } else if (byte === 0x17) {
        this.#eraseWord();
      } else if (byte === 0x09) {
        this.#taint ??= 'tab completion happens on the server, after inspection';
      } else if (byte === 0x1b) {
        this.#taint ??= 'the line contains editing keys or escape sequences (arrows, history, bracketed paste)';
      } else if (byte < 0x20) {
        this.#taint ??= `the line contains the control character 0x${byte.toString(16).padStart(2, '0')}`;
      } else if (this.#line.length >= this.maxLineBytes) {
        this.#taint ??= `the line is longer than ${this.maxLineBytes} bytes`;
      } else {
        this.#line.push(byte);
      }
    }
    return out;
  }

  #finish(terminator: string): TypedInput {
    const taint = this.#taint;
    const text = Buffer.from(this.#line).toString('utf8');
    this.#reset();
    if (taint) return { kind: 'rejected', reason: taint };
    return { kind: 'line', text, terminator };
  }

  #reset(): void {
    this.#line = [];
    this.#taint = undefined;
  }

  #eraseChar(): void {
    // One character, not one byte: drop UTF-8 continuation bytes with their lead byte.
    while (this.#line.length > 0) {
      const b = this.#line.pop()!;
      if ((b & 0xc0) !== 0x80) break;
    }
  }

  #eraseWord(): void {
    while (this.#line.length > 0 && this.#line[this.#line.length - 1] === 0x20) this.#line.pop();
    while (this.#line.length > 0 && this.#line[this.#line.length - 1] !== 0x20) this.#line.pop();
  }
}
