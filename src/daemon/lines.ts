import { StringDecoder } from 'node:string_decoder';
import { MAX_LINE_BYTES } from './protocol.js';

/**
 * Splits a byte stream into newline-delimited JSON messages. Calls onMessage
 * for each parsed object, onBadLine for a line that is not a JSON object, and
 * onOverflow once if a line grows beyond the limit (the caller closes).
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buffered = '';

  constructor(
    private readonly onMessage: (msg: Record<string, unknown>) => void,
    private readonly onBadLine: (line: string, err: Error) => void,
    private readonly onOverflow: () => void,
    private readonly maxLine = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer | string): void {
    this.buffered += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line) this.parse(line);
    }
    if (this.buffered.length > this.maxLine) {
      this.buffered = '';
      this.onOverflow();
    }
  }

  private parse(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch (err) {
      this.onBadLine(line, err as Error);
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      this.onBadLine(line, new Error('a message must be a JSON object'));
      return;
    }
    this.onMessage(msg as Record<string, unknown>);
  }
}

export function encodeLine(msg: unknown): string {
  return JSON.stringify(msg) + '\n';
}
