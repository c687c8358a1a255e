// Records an interactive session as asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/):
// a JSON header line, then one `[seconds, code, data]` line per event: `o` what the agent's
// terminal received, `i` what the agent typed, `r` a resize ("COLSxROWS"). The recording goes to a
// file when a directory is configured and always through a bounded capture whose SHA-256 covers
// every byte, so the audit event proves the file unaltered.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ResponseCapture } from '../../../../core/audit/response-capture.js';
import type { CapturedResponse } from '../../../../core/audit/events.js';

/** Kept inline by the gateway at most; the audit sink cuts further to its configured cap. */
const INLINE_CAP_BYTES = 1024 * 1024;

export interface AsciicastHeader {
  width: number;
  height: number;
  term?: string;
  title?: string;
}

export class AsciicastRecorder {
  readonly #started = process.hrtime.bigint();
  readonly #capture = new ResponseCapture(INLINE_CAP_BYTES);
  readonly #file: WriteStream | undefined;
  readonly #decoders = { o: new StringDecoder('utf8'), i: new StringDecoder('utf8') };
  #fileError: string | undefined;

  /** `file`: where to write the recording (its directory is created); absent: capture only. */
  constructor(header: AsciicastHeader, readonly file?: string) {
    if (file) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
      this.#file = createWriteStream(file, { mode: 0o640 });
      this.#file.on('error', (err) => (this.#fileError = err.message));
    }
    this.#line({
      version: 2,
      width: header.width,
      height: header.height,
      timestamp: Math.floor(Date.now() / 1000),
      ...(header.term ? { env: { TERM: header.term } } : {}),
      ...(header.title ? { title: header.title } : {}),
    });
  }

  output(data: Buffer | string): void {
    this.#event('o', data);
  }

  input(data: Buffer | string): void {
    this.#event('i', data);
  }

  resize(cols: number, rows: number): void {
    this.#line([this.#elapsed(), 'r', `${cols}x${rows}`]);
  }

  /** Ends the recording; resolves once the file is on disk, with the capture for the audit event. */
  async finish(): Promise<{ capture: CapturedResponse; fileError?: string }> {
    for (const code of ['o', 'i'] as const) {
      const rest = this.#decoders[code].end();
      if (rest) this.#line([this.#elapsed(), code, rest]);
    }
    if (this.#file) await new Promise<void>((resolve) => this.#file!.end(() => resolve()));
    return { capture: this.#capture.finish(), fileError: this.#fileError };
  }

  #event(code: 'o' | 'i', data: Buffer | string): void {
    // A chunk may end inside a UTF-8 character: the decoder carries it over to the next event.
    const text = typeof data === 'string' ? data : this.#decoders[code].write(data);
    if (text) this.#line([this.#elapsed(), code, text]);
  }

  #elapsed(): number {
    return Math.round(Number(process.hrtime.bigint() - this.#started) / 1000) / 1_000_000;
  }

  #line(value: unknown): void {
    const line = `${JSON.stringify(value)}\n`;
    this.#capture.add(line);
    this.#file?.write(line);
  }
}

/** The terminal output of a recording: what a faithful replay prints. */
export function replayOutput(cast: string): string {
  let out = '';
  for (const line of cast.split('\n').slice(1)) {
    if (!line) continue;
    const [, code, data] = JSON.parse(line) as [number, string, string];
    if (code === 'o') out += data;
  }
  return out;
}
