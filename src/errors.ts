// One error root for the whole tool: every error a user sees carries a code,
// what went wrong, where (file/line/key, or server/step) and what to do next.

export const EXIT_OK = 0;
export const EXIT_FAILED = 1; // the run or test failed
export const EXIT_USAGE = 2; // bad usage or invalid input
export const EXIT_INTERRUPTED = 130; // stopped by Ctrl-C (128 + SIGINT), as shells report it

export interface SourceLocation {
  file: string;
  line: number; // 1-based
  col: number; // 1-based
}

export interface MyikeErrorOptions {
  hint?: string;
  cause?: unknown;
  server?: string;
  step?: string;
  exitCode?: number;
  location?: SourceLocation;
  keyPath?: string;
  excerpt?: string; // the source line the location points into
}

export class MyikeError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly server?: string;
  readonly step?: string;
  readonly exitCode: number;
  readonly location?: SourceLocation;
  readonly keyPath?: string;
  readonly excerpt?: string;

  constructor(code: string, message: string, opts: MyikeErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MyikeError';
    this.code = code;
    this.hint = opts.hint;
    this.server = opts.server;
    this.step = opts.step;
    this.exitCode = opts.exitCode ?? EXIT_FAILED;
    this.location = opts.location;
    this.keyPath = opts.keyPath;
    this.excerpt = opts.excerpt;
  }

  /** The same error with another hint (what to do changed, e.g. after a rollback). */
  withHint(hint: string): MyikeError {
    return new MyikeError(this.code, this.message, { ...this, cause: this.cause, hint });
  }

  /** The same error placed on a server and step, unless it names a server already (a lost daemon connection does not know where it was). */
  on(server: string, step: string): MyikeError {
    return this.server ? this : new MyikeError(this.code, this.message, { ...this, cause: this.cause, server, step });
  }

  /** The error as data, for readers of --json: what describe() says, field by field. */
  asData(): Record<string, unknown> {
    const { file, line, col } = this.location ?? {};
    return { code: this.code, message: this.message, file, line, col, key: this.keyPath, server: this.server, step: this.step, hint: this.hint, exitCode: this.exitCode };
  }

  /** One line for a terminal: where, what, and (on its own line) what to do. */
  describe(): string {
    const where = this.location
      ? `${this.location.file}:${this.location.line}:${this.location.col}: `
      : '';
    const ctx = [this.server && `server ${this.server}`, this.step && `step ${this.step}`]
      .filter(Boolean)
      .join(', ');
    const lines = [`${where}error: ${ctx ? `[${ctx}] ` : ''}${this.message}`];
    if (this.excerpt !== undefined && this.location) {
      lines.push(`  ${this.excerpt}`, `  ${' '.repeat(Math.max(0, this.location.col - 1))}^`);
    }
    if (this.hint) lines.push(`  hint: ${this.hint}`);
    return lines.join('\n');
  }
}

/** Several input errors reported together (validation reports all, not just the first). */
export class InputErrors extends MyikeError {
  readonly errors: MyikeError[];
  constructor(errors: MyikeError[]) {
    super('E_INPUT', `${errors.length} error(s) in the input`, { exitCode: EXIT_USAGE });
    this.errors = errors;
  }
  override describe(): string {
    return this.errors.map((e) => e.describe()).join('\n');
  }
  override asData(): Record<string, unknown> {
    return { ...super.asData(), errors: this.errors.map((e) => e.asData()) };
  }
}

export function asMyikeError(err: unknown): MyikeError {
  if (err instanceof MyikeError) return err;
  const e = err as Error;
  return new MyikeError('E_INTERNAL', e?.message ?? String(err), {
    cause: err,
    hint: 'this looks like a bug in myikev2; please report it with the command you ran',
  });
}
