import { asMyikeError, EXIT_OK, type MyikeError } from '../errors.js';

type Opts = { json?: unknown; config?: unknown };
/** Points an error at the line of the command's input to fix (model/config: placeByConfigOption). */
export type ErrorPlacer = (e: MyikeError, opts: Opts) => MyikeError;
/** The options of the commander Command an action receives last. */
const optsOf = (args: unknown[]): Opts | undefined => {
  const c = args.find((a) => typeof (a as { opts?: unknown })?.opts === 'function') as { opts: () => Opts } | undefined;
  return c?.opts();
};

/**
 * Wraps a command handler: the handler returns an exit code (or nothing for 0)
 * and throws MyikeError for failures; this prints the error once, in the one
 * format every command shares (also as JSON on stdout with --json), and
 * sets the process exit code. Commands that read the controller config give
 * `place`; the daemon's file then carries no config code (a fifth of its size).
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>, place?: ErrorPlacer) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? EXIT_OK;
    } catch (err) {
      let e = asMyikeError(err);
      const opts = optsOf(args);
      if (place && opts) e = place(e, opts);
      process.stderr.write(e.describe() + '\n');
      // A --json reader gets the error as JSON on stdout, where it reads the result (undefined fields are left out).
      if (opts?.json === true) process.stdout.write(JSON.stringify({ error: e.asData() }, null, 2) + '\n');
      if (e.code === 'E_INTERNAL' && process.env.MYIKEV2_DEBUG) console.error(err);
      process.exitCode = e.exitCode;
    }
  };
}
