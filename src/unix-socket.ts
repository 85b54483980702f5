// Whether a process listens on a Unix socket: a daemon or an engine already
// there, an engine's API that came up. Only an existing socket file is tried
// (a stat costs far less than a failed connect, and pollers ask often); a
// socket file left by a process that died does not answer.
import { statSync } from 'node:fs';
import { connect } from 'node:net';

export function unixSocketAnswers(path: string, timeoutMs = 2000): Promise<boolean> {
  if (!statSync(path, { throwIfNoEntry: false })?.isSocket()) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (yes: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(yes);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
