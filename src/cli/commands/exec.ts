import type { Command } from 'commander';
import { action } from '../action.js';

/** `myikev2 exec -f SETUP [-j]`: run the IKEv2 test engine (docs/engine-api.md). */
export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('run the IKEv2 test engine with a setup file (client or gateway), print the summary at the end')
    .requiredOption('-f, --file <setup>', 'engine setup file (YAML)')
    .option('-j, --json', 'print the summary as JSON')
    .option('--run-dir <dir>', 'run directory holding the API socket (default /run/myikev2/engine/<setup name>)')
    .option('--no-tcp', 'do not listen on apilistenaddr:apilistenport (Unix socket only)')
    .option('--no-netconf', 'the addresses (client tunnels, bindifaddr) and staticroute are set already: neither add nor remove them (myikev2 run sets them in the namespace)')
    .action(
      action(async (opts: { file: string; json?: boolean; runDir?: string; tcp: boolean; netconf: boolean }) =>
        (await import('../../engine/program/exec.js')).execEngine({ file: opts.file, json: !!opts.json, runDir: opts.runDir, noTcp: !opts.tcp, noNetconf: !opts.netconf }),
      ),
    );
}
