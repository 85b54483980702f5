import type { Command } from 'commander';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { action } from '../action.js';
import { MyikeError, EXIT_USAGE } from '../../errors.js';
import type { EngineTarget } from '../../engine/cli/client.js';

async function defaultTarget(): Promise<EngineTarget> {
  const { API_SOCKET, ENGINE_RUN_ROOT } = await import('../../engine/program/exec.js');
  const dirs = await readdir(ENGINE_RUN_ROOT).catch(() => [] as string[]);
  if (dirs.length === 1) return { socket: join(ENGINE_RUN_ROOT, dirs[0], API_SOCKET) };
  throw new MyikeError('E_USAGE', dirs.length ? `${dirs.length} engines run here (${dirs.join(', ')}): say which` : 'no engine found under ' + ENGINE_RUN_ROOT, {
    hint: 'give --socket RUN_DIR/api.sock, --run-dir RUN_DIR, or --addr ADDR --port PORT',
    exitCode: EXIT_USAGE,
  });
}

/** `myikev2 cli`: interactive CLI (or one command with --exec) on an engine's API. */
export function registerCli(program: Command): void {
  program
    .command('cli')
    .description('talk to a running engine (myikev2 exec): summary, list, dump, rekey, events, stop, psummary, clearping')
    .option('--socket <path>', "the engine's API socket (RUN_DIR/api.sock)")
    .option('--run-dir <dir>', "the engine's run directory")
    .option('--addr <addr>', "the engine's API address (apilistenaddr)")
    .option('--port <port>', "the engine's API port (apilistenport)", '12330')
    .option('-e, --exec <command>', 'run one command and exit with its status (0 ok, 1 failed, 2 bad usage)')
    .option('-j, --json', 'print JSON')
    .action(
      action(async (o: { socket?: string; runDir?: string; addr?: string; port: string; exec?: string; json?: boolean }) => {
        const given = [o.socket && '--socket', o.runDir && '--run-dir', o.addr && '--addr'].filter(Boolean);
        if (given.length > 1) throw new MyikeError('E_USAGE', `${given.join(' and ')} name the engine twice`, { hint: 'give one of --socket, --run-dir, or --addr (with --port)', exitCode: EXIT_USAGE });
        const port = Number(o.port);
        if (o.addr && (!Number.isInteger(port) || port < 1 || port > 65535))
          throw new MyikeError('E_USAGE', `--port ${o.port} is not a port number`, { hint: 'give 1-65535', exitCode: EXIT_USAGE });
        const { API_SOCKET } = await import('../../engine/program/exec.js');
        const target: EngineTarget = o.socket ? { socket: o.socket } : o.runDir ? { socket: join(o.runDir, API_SOCKET) } : o.addr ? { addr: o.addr, port } : await defaultTarget();
        const { runCli } = await import('../../engine/cli/repl.js');
        return runCli({ target, exec: o.exec, json: !!o.json });
      }),
    );
}
