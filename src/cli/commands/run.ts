import type { Command } from 'commander';
import { action } from '../action.js';
import { placeByConfigOption } from '../../model/config.js';
import { elapsed, table } from '../table.js';
import { loadInputs } from '../../model/load.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, MyikeError } from '../../errors.js';
import type { RunResult } from '../../run/run.js';
import type { ControllerConf } from '../../model/config-types.js';

/** The next commands a user wants: look inside the instances, tear down. */
function howToInspect(result: RunResult, config: ControllerConf, configFile: string | undefined, recipeFile: string): string {
  const cfg = configFile ? ` -c ${configFile}` : '';
  const lines: string[] = [];
  for (const i of result.instances.slice(0, 4)) {
    const local = config.servers[i.server]?.connection === 'local';
    if (!local) lines.push(`  ${i.instance}: myikev2 shell${cfg}, then: cli -t ${i.instance}`);
    else if (i.kind === 'myikev2') lines.push(`  ${i.instance}: myikev2 cli --run-dir ${i.runDir}   (then: summary, psummary, list)`);
    else lines.push(`  ${i.instance}: ip netns exec ${i.namespace} sh`);
  }
  if (result.instances.length > 4) lines.push(`  … and ${result.instances.length - 4} more (see the table)`);
  return `inspect:\n${lines.join('\n')}\ntear down: myikev2 teardown${cfg} ${recipeFile}\n`;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('bring a recipe up: validate, plumb namespaces on every server, start the instances')
    .argument('<recipe>', 'recipe file (YAML)')
    .option('-c, --config <file>', 'controller config (default: the embedded one, the local machine)')
    .option('-o, --override', 'replace instances whose definition changed since they were started')
    .option('--keep-on-failure', 'do not roll back what a failed run created')
    .option('--dry-run', 'print the plan, every generated script and how each instance is started; contact no server')
    .option('--json', 'print the summary as JSON')
    .option('--plain', 'plain progress lines even on a terminal')
    .action(
      action(async (recipeFile: string, opts: { config?: string; override?: boolean; keepOnFailure?: boolean; dryRun?: boolean; json?: boolean; plain?: boolean }) => {
        if (opts.dryRun && opts.json) throw new MyikeError('E_USAGE', '--dry-run prints scripts, not JSON: give one of --dry-run and --json', { exitCode: EXIT_USAGE });
        const inputs = loadInputs(recipeFile, opts.config);
        for (const w of inputs.warnings) process.stderr.write(w + '\n');
        if (opts.dryRun) {
          const { dryRunText } = await import('../../run/dry-run.js');
          process.stdout.write(dryRunText(inputs));
          return;
        }
        const { runRecipe } = await import('../../run/run.js');
        // Ctrl-C stops the run after its current step, which then rolls back
        // what it created (as after a failure); a second Ctrl-C quits at once.
        const interrupt = new AbortController();
        const onSignal = () => {
          if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
          process.stderr.write('\ninterrupted: stopping after the current step, then rolling back (Ctrl-C again to quit at once)\n');
          interrupt.abort();
        };
        process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
        const result = await runRecipe(inputs, {
          override: !!opts.override,
          keepOnFailure: !!opts.keepOnFailure,
          progress: opts.json ? 'silent' : opts.plain ? 'plain' : 'auto',
          warn: (w) => process.stderr.write(`warning: ${w}\n`),
          signal: interrupt.signal,
        }).finally(() => process.off('SIGINT', onSignal).off('SIGTERM', onSignal));
        if (opts.json) {
          process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        } else {
          process.stdout.write(
            '\n' +
              table(
                ['INSTANCE', 'SERVER', 'NAMESPACE', 'MGMT ADDRESS', 'STATE'],
                result.instances.map((i) => [i.instance, i.server, i.namespace, i.mgmtAddr || '-', i.state]),
              ),
          );
          const servers = new Set(result.instances.map((i) => i.server)).size;
          if (result.removed.length) process.stdout.write(`\nremoved (no longer in the recipe): ${result.removed.map((r) => `${r.instance} (${r.server})`).join(', ')}\n`);
          process.stdout.write(`\nrun "${result.name}" (tag ${result.tag}) is up: ${result.instances.length} instance(s) on ${servers} server(s) in ${elapsed()}.\n${howToInspect(result, inputs.config, opts.config, recipeFile)}`);
        }
        return result.instances.every((i) => i.state !== 'failed') ? 0 : EXIT_FAILED;
      }, placeByConfigOption),
    );
}
