import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { DaemonOptions } from '../../daemon/daemon.js';
import { reportReady } from '../../daemon/ready.js';
import { asMyikeError } from '../../errors.js';
import { DEFAULT_SOCKET, DEFAULT_STATE_DIR } from '../../daemon/protocol.js';

interface CliOptions {
  socket: string;
  stateDir: string;
  detach?: boolean;
  listen?: string;
  tokenFile?: string;
  logCheckInterval?: number;
  adoptPollInterval?: number;
  readyFd?: number;
}

/** The options a detached parent passes on to the daemon it starts. */
function forwardedArgs(o: CliOptions): string[] {
  const args = ['--socket', o.socket, '--state-dir', o.stateDir];
  if (o.listen) args.push('--listen', o.listen);
  if (o.tokenFile) args.push('--token-file', o.tokenFile);
  if (o.logCheckInterval) args.push('--log-check-interval', String(o.logCheckInterval));
  if (o.adoptPollInterval) args.push('--adopt-poll-interval', String(o.adoptPollInterval));
  return args;
}

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('run the per-server instance supervisor (protocol: docs/daemon-protocol.md)')
    .option('--socket <path>', 'Unix socket to listen on (mode 0600)', DEFAULT_SOCKET)
    .option('--state-dir <dir>', 'lock, state, manifests, daemon.log and default logs', DEFAULT_STATE_DIR)
    .option('--detach', 'start in the background and return once the socket answers')
    .option('--listen <addr:port>', 'also listen on TCP (needs --token-file)')
    .option('--token-file <file>', 'token that TCP clients must present in hello')
    .addOption(new Option('--log-check-interval <ms>', 'how often log sizes are checked').argParser(Number).hideHelp())
    .addOption(new Option('--adopt-poll-interval <ms>', 'how often re-adopted pids are checked').argParser(Number).hideHelp())
    // For starters that wait on a pipe instead of polling: "ready" or "fail CODE" is written to this fd, which is then closed.
    .addOption(new Option('--ready-fd <fd>', 'file descriptor to report readiness on').argParser(Number).hideHelp())
    .action(
      action(async (o: CliOptions) => {
        // Absolute paths: the detached daemon runs from /.
        o.socket = resolve(o.socket);
        o.stateDir = resolve(o.stateDir);
        if (o.tokenFile) o.tokenFile = resolve(o.tokenFile);
        const opts: DaemonOptions = {
          socket: o.socket,
          stateDir: o.stateDir,
          listen: o.listen,
          tokenFile: o.tokenFile,
          logCheckMs: o.logCheckInterval,
          adoptPollMs: o.adoptPollInterval,
          readyFd: o.readyFd,
        };
        const { parseListen, readToken, runDaemon } = await import('../../daemon/daemon.js');
        if (o.detach) {
          // Bad usage fails here, not in the detached daemon's log.
          const { startDetached } = await import('../../daemon/detach.js');
          if (o.listen) {
            parseListen(o.listen);
            readToken(o.tokenFile);
          }
          const pid = await startDetached(o.socket, o.stateDir, forwardedArgs(o));
          process.stdout.write(`daemon running (pid ${pid}, socket ${o.socket})\n`);
          return 0;
        }
        const code = await runDaemon(opts).catch((e: unknown) => {
          if (o.readyFd !== undefined) reportReady(o.readyFd, `fail ${asMyikeError(e).exitCode}`);
          throw e;
        });
        // A client that never closes its half of a connection must not keep
        // the process alive (250 ms at most); the log is written synchronously, so exit is safe.
        setTimeout(() => process.exit(code), 250).unref();
        return code;
      }),
    );
}
