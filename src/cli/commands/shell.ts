import type { Command } from 'commander';
import { action } from '../action.js';
import { placeByConfigOption } from '../../model/config.js';

/** `myikev2 shell`: the controller's interactive CLI (docs/shell.md). */
export function registerShell(program: Command): void {
  program
    .command('shell')
    .description('interactive controller: def -f, list, cli -t, shell, clearping, stop, teardown, logs (commands also from stdin or --exec)')
    .option('-c, --config <file>', 'controller config (default: the embedded one, the local machine)')
    .option('-e, --exec <commands>', 'run these commands ("list; stop -t a") and exit with the first failure\'s code')
    .option('--errexit', 'stop at the first command that fails (stdin and --exec)')
    .action(action(async (o: { config?: string; exec?: string; errexit?: boolean }) => (await import('../../shell/repl.js')).runShell({ configFile: o.config, exec: o.exec, errexit: !!o.errexit }), placeByConfigOption));
}
