import { asMyikeError, EXIT_OK } from '../errors.js';

/**
 * Wraps a command handler: the handler returns an exit code (or nothing for 0)
 * and throws MyikeError for failures; this prints the error once, in the one
 * format every command shares, and sets the process exit code.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? EXIT_OK;
    } catch (err) {
      const e = asMyikeError(err);
      process.stderr.write(e.describe() + '\n');
      if (e.code === 'E_INTERNAL' && process.env.MYIKEV2_DEBUG) console.error(err);
      process.exitCode = e.exitCode;
    }
  };
}
