// Masks a byte stream (command output), so that where the stream happens to be cut into reads
// changes nothing: text is masked a whole line at a time, and a private key, which spans lines, is
// followed line by line from its BEGIN line (or from a body line shown without it: `tail key.pem`)
// to its END line, however the reads cut it. Memory is bounded: one partial line (at most
// MAX_LINE characters) and the key state carry over from one read to the next.
import { StringDecoder } from 'node:string_decoder';
import type { Masker } from '../../../../core/mask/index.js';

const MAX_LINE = 64 * 1024;
/** A released piece of an over-long line keeps back at most this much of a value it may cut. */
const MAX_HELD_TAIL = 4 * 1024;

const BEGIN_KEY = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----/;
const END_KEY = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----/;
/** Inside a key: base64 lines and the headers of an encrypted PEM key. */
const KEY_CONTENT = /^\s*[A-Za-z0-9+/]+={0,2}\s*$|^(?:Proc-Type|DEK-Info): /;
/**
 * A key body line seen on its own: PEM lines are 64 characters, OpenSSH's 70. Random base64 that
 * long holds upper case, lower case and digits; hex digests and words do not look like this.
 */
const ORPHAN_KEY_LINE = /^\s*[A-Za-z0-9+/]{60,76}={0,2}\s*$/;
const looksRandom = (s: string) => /[A-Z]/.test(s) && /[a-z]/.test(s) && /[0-9]/.test(s);
/** A blank between two of these may be inside a value ("4111 1111", "GB82 WEST", "(415) 555"). */
const JOINS = /[A-Za-z0-9()+-]/;

export class LineMasker {
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';
  /** Inside a private key: its lines are masked until its END line. */
  #inKey = false;
  /**
   * The key was entered at a body line, not at BEGIN: a line only continues it after a full-length
   * line (a body's last line is short; after it comes END).
   */
  #orphan = false;
  #lastFull = false;
  /** Values masked, per detector (`detector:<name>`), for the outcome's masking summary. */
  readonly counts: Record<string, number> = {};
  /** Values masked in all. */
  masked = 0;
  constructor(private readonly masker: Masker) {}

  push(chunk: Buffer): Buffer {
    const text = this.#pending + this.#decoder.write(chunk);
    const cut = text.lastIndexOf('\n') + 1;
    let ready = this.#lines(text.slice(0, cut));
    this.#pending = text.slice(cut);
    if (this.#pending.length > MAX_LINE) ready += this.#release(MAX_HELD_TAIL);
    return Buffer.from(ready, 'utf8');
  }

  /**
   * Releases the partial line (a prompt has no newline). `final` (the stream ended): all of it.
   * Otherwise the end that may be the start of a value still being written is kept back, so a
   * secret cut by a pause in the output is still masked whole.
   */
  flush(final = true): Buffer {
    if (final) this.#pending += this.#decoder.end();
    return Buffer.from(this.#release(final ? 0 : MAX_LINE), 'utf8');
  }

  /** Characters held back for now (a partial line). */
  get held(): number {
    return this.#pending.length;
  }

  #release(maxTail: number): string {
    let keep = 0;
    if (maxTail > 0) {
      if (this.#inKey) keep = this.#pending.length;
      else {
        // What may be a value still being written: back to a control character or a blank that
        // ends a word. A prompt ends with one ("$ ", ": "), so it is released at once.
        const p = this.#pending;
        let i = p.length;
        for (; i > 0; i--) {
          const c = p[i - 1]!;
          if (c < ' ' || c === '\x7f') break;
          // A blank the pause cut the output at may join what comes next to what came before.
          const joins = c === ' ' && JOINS.test(p[i - 2] ?? '') && (i === p.length || JOINS.test(p[i]!));
          if (/\s/.test(c) && !joins) break;
        }
        keep = p.length - i;
      }
      if (keep > maxTail) keep = 0;
    }
    const out = this.#pending.slice(0, this.#pending.length - keep);
    this.#pending = this.#pending.slice(out.length);
    return this.#lines(out);
  }

  /**
   * Masks text made of whole lines (the last one may lack its newline when released early), one
   * line at a time: how lines were grouped into reads then cannot change what a line becomes.
   */
  #lines(text: string): string {
    if (!text) return '';
    let out = '';
    let start = 0;
    while (start < text.length) {
      const nl = text.indexOf('\n', start);
      const end = nl === -1 ? text.length : nl + 1;
      const line = text.slice(start, end);
      start = end;
      const body = line.replace(/\r?\n$/, '');
      if (this.#inKey) {
        if (END_KEY.test(body)) {
          this.#inKey = false;
          out += this.#keyLine(line, false);
          continue;
        }
        if (body.trim() === '' && !this.#orphan) {
          out += line; // the blank line after an encrypted key's headers
          continue;
        }
        if (KEY_CONTENT.test(body) && (!this.#orphan || this.#lastFull)) {
          out += this.#keyLine(line, false);
          this.#lastFull = ORPHAN_KEY_LINE.test(body);
          continue;
        }
        this.#inKey = false;
      }
      const armoured = body.includes('-----');
      if (armoured && BEGIN_KEY.test(body) && !END_KEY.test(body)) {
        // The detector masks from BEGIN to the end of this text; the lines after it follow.
        out += this.#mask(body, true) + line.slice(body.length);
        this.#inKey = true;
        this.#orphan = false;
        continue;
      }
      if (body.length >= 60 && ORPHAN_KEY_LINE.test(body) && looksRandom(body)) {
        out += this.#keyLine(line, true);
        this.#inKey = true;
        this.#orphan = true;
        this.#lastFull = true;
        continue;
      }
      out += this.#mask(line, true);
    }
    return out;
  }

  /**
   * One line of a private key, masked the way the private_key detector is configured (it sees the
   * line under a BEGIN line; the stand-in BEGIN line's own mask is dropped). A key counts once.
   */
  #keyLine(line: string, counts: boolean): string {
    const newline = /\r?\n$/.exec(line)?.[0] ?? '';
    const body = line.slice(0, line.length - newline.length);
    const lead = '-----BEGIN PRIVATE KEY-----\n';
    const masked = this.#maskRaw(lead + body, counts);
    if (masked === undefined) return line;
    const cut = masked.indexOf('\n');
    return (cut === -1 ? masked : masked.slice(cut + 1)) + newline;
  }

  #mask(text: string, counts: boolean): string {
    return text ? (this.#maskRaw(text, counts) ?? text) : '';
  }

  #maskRaw(text: string, counts: boolean): string | undefined {
    // The masker is shared by the gateway's SSH sessions and counts globally; what it counted
    // before is cleared when this text is masked, then what this text added is taken right after
    // (synchronously): a text that masks nothing counted nothing.
    const masked = this.masker.maskText(text);
    if (masked === undefined) return undefined;
    this.masker.takeSummary();
    this.masker.maskText(text);
    const found = this.masker.takeSummary().detectors;
    if (counts) {
      for (const [detector, n] of Object.entries(found)) {
        if (!n) continue;
        this.counts[`detector:${detector}`] = (this.counts[`detector:${detector}`] ?? 0) + n;
        this.masked += n;
      }
    }
    return masked;
  }
}
