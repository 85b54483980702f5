import type { Command } from 'commander';
import { action } from '../action.js';
import { placeByConfigOption } from '../../model/config.js';
import { elapsed } from '../table.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, MyikeError } from '../../errors.js';
import { loadConfig, loadConfigAndRecipeName } from '../../model/load.js';
import { runTag } from '../../run/names.js';
import { listManifests, prunedNote, runNameOfRecipeFile, runsStartedFrom } from '../../run/store.js';
import { shq } from '../../transport/transport.js';

export function registerTeardown(program: Command): void {
  program
    .command('teardown')
    .description('stop a run\'s instances, remove everything it created, and verify nothing is left')
    .argument('[recipe]', 'recipe file of the run (or use --name)')
    .option('-c, --config <file>', 'controller config (default: the embedded one, the local machine)')
    .option('--name <name>', 'the recipe name of the run (works after the recipe was edited or deleted)')
    .option('--force', 'kill instances at once instead of stopping them gracefully')
    .option('--no-logs', 'do not copy the instances\' logs to the controller before removing them')
    .option('--keep-daemon', 'leave the daemon running on servers that have nothing left (a later teardown without it stops it, even of no run)')
    .option('--forget', 'drop this controller\'s record of the run even if a server cannot be torn down (e.g. it is gone for good); its daemon keeps its own record')
    .option('--json', 'print the result as JSON')
    .option('--plain', 'plain progress lines even on a terminal')
    .action(
      action(async (recipeFile: string | undefined, opts: { config?: string; name?: string; force?: boolean; logs: boolean; keepDaemon?: boolean; forget?: boolean; json?: boolean; plain?: boolean }) => {
        if (!recipeFile === !opts.name) throw new MyikeError('E_USAGE', 'give either a recipe file or --name NAME', { hint: whichRun(opts.config), exitCode: EXIT_USAGE });
        // Only the recipe's name matters: a recipe edited (even broken) since the run still tears it down.
        // A file this controller ran as it is now needs no parsing: its run's name is on record.
        let name = opts.name ?? runNameOfRecipeFile(recipeFile!);
        let config;
        if (name) config = loadConfig(opts.config).config;
        else ({ config, name } = loadConfigAndRecipeName(recipeFile!, opts.config));
        const { teardownRun } = await import('../../run/teardown-run.js');
        // A teardown cut off midway leaves a run half removed: the first Ctrl-C lets it finish.
        let interrupted = false;
        const onSignal = () => {
          if (interrupted) process.exit(EXIT_INTERRUPTED);
          interrupted = true;
          process.stderr.write('\ninterrupted: the teardown finishes, so nothing is left half removed (Ctrl-C again to quit at once)\n');
        };
        process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
        const result = await teardownRun(config, runTag(name), {
          force: !!opts.force,
          saveLogs: opts.logs,
          keepDaemon: !!opts.keepDaemon,
          forget: !!opts.forget,
          progress: opts.json ? 'silent' : opts.plain ? 'plain' : 'auto',
          warn: (w) => process.stderr.write(`warning: ${w}\n`),
        }).finally(() => process.off('SIGINT', onSignal).off('SIGTERM', onSignal));
        const left = result.servers.filter((s) => s.leftovers.length);
        if (opts.json) process.stdout.write(JSON.stringify({ ...result, name: result.name ?? name, found: result.name !== null }, null, 2) + '\n');
        else if (!result.name) {
          process.stdout.write(`nothing to tear down: no run of "${name}"${result.idleDaemonsStopped.length ? `; stopped the idle daemon on ${result.idleDaemonsStopped.join(', ')}` : ''}\n`);
          // The recipe's name was changed since it ran: its run is up under the old name.
          const before = recipeFile ? runsStartedFrom(recipeFile).filter((n) => n !== name) : [];
          if (before.length)
            process.stdout.write(`but ${recipeFile} started ${before.length === 1 ? 'the run' : 'the runs'} ${before.map((n) => `"${n}"`).join(', ')} (its name then), still on record: myikev2 teardown${opts.config ? ` -c ${shq(opts.config)}` : ''} --name ${shq(before[0])}\n`);
          // A mistyped --name: say which names would have done.
          else if (opts.name && listManifests().length) process.stderr.write(`hint: ${whichRun(opts.config)}\n`);
        }
        else {
          for (const s of left) process.stdout.write(`${s.server}: could not remove:\n${s.leftovers.map((l) => `  ${l}`).join('\n')}\n`);
          if (result.logs) process.stdout.write(`logs saved in ${result.logs}${prunedNote(result.logsPruned, result.logsKept)}\n`);
          process.stdout.write(
            !left.length
              ? `run "${result.name}" torn down; verified clean on ${result.servers.length} server(s) in ${elapsed()}\n`
              : result.forgotten
                ? `teardown of "${result.name}" incomplete, and the run is forgotten on this controller as asked: what is listed above stays; a server that keeps the run's record (its daemon) lets \`myikev2 teardown --name ${shq(result.name)}\` finish the job if it comes back\n`
                : `teardown of "${result.name}" incomplete: once what is listed above is fixed (or the server is reachable again), run the same teardown again; the run stays on record until then (--forget drops it, e.g. for a server gone for good)\n`,
          );
        }
        return left.length ? EXIT_FAILED : 0;
      }, placeByConfigOption),
    );
}

/** The runs this controller has on record, as the way to name one. */
function whichRun(config?: string): string {
  const names = [...new Set(listManifests().map((m) => m.name))].sort();
  const c = config ? ` -c ${shq(config)}` : '';
  if (names.length === 0) return `myikev2 teardown${c} recipe.yaml, or myikev2 teardown${c} --name NAME (no run is on record on this controller)`;
  return `runs on record on this controller: ${names.join(', ')}; e.g. myikev2 teardown${c} --name ${shq(names[0])}`;
}
