import { asMyikeError, EXIT_OK } from '../errors.js';

/** The commander Command an action receives last, run with --json. */
const asksForJson = (a: unknown): boolean => typeof (a as { opts?: unknown })?.opts === 'function' && (a as { opts: () => { json?: unknown } }).opts().json === true;

/**
 * Wraps a command handler: the handler returns an exit code (or nothing for 0)
 * and throws MyikeError for failures; this prints the error once, in the one
 * format every command shares (also as JSON on stdout with --json), and
 * sets the process exit code.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? EXIT_OK;
    } catch (err) {
      const e = asMyikeError(err);
      process.stderr.write(e.describe() + '\n');
      // A --json reader gets the error as JSON on stdout, where it reads the result (undefined fields are left out).
      if (args.some(asksForJson)) process.stdout.write(JSON.stringify({ error: e.asData() }, null, 2) + '\n');
      if (e.code === 'E_INTERNAL' && process.env.MYIKEV2_DEBUG) console.error(err);
      process.exitCode = e.exitCode;
    }
  };
}
