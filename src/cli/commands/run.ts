import type { Command } from 'commander';
import { action } from '../action.js';
import { table } from '../table.js';
import { loadInputs } from '../../model/load.js';
import { EXIT_FAILED } from '../../errors.js';
import { runRecipe } from '../../run/run.js';
import { dryRunText } from '../../run/dry-run.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('bring a recipe up: validate, plumb namespaces on every server, start the instances')
    .argument('<recipe>', 'recipe file (YAML)')
    .option('-c, --config <file>', 'controller config (default: the embedded one, the local machine)')
    .option('-o, --override', 'replace instances whose definition changed since they were started')
    .option('--keep-on-failure', 'do not roll back what a failed run created')
    .option('--dry-run', 'print the plan and every generated script; touch nothing')
    .option('--json', 'print the summary as JSON')
    .option('--plain', 'plain progress lines even on a terminal')
    .action(
      action(async (recipeFile: string, opts: { config?: string; override?: boolean; keepOnFailure?: boolean; dryRun?: boolean; json?: boolean; plain?: boolean }) => {
        const inputs = loadInputs(recipeFile, opts.config);
        for (const w of inputs.warnings) process.stderr.write(w + '\n');
        if (opts.dryRun) {
          process.stdout.write(dryRunText(inputs));
          return;
        }
        const result = await runRecipe(inputs, {
          override: !!opts.override,
          keepOnFailure: !!opts.keepOnFailure,
          progress: opts.json ? 'silent' : opts.plain ? 'plain' : 'auto',
          warn: (w) => process.stderr.write(`warning: ${w}\n`),
        });
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
          const cfg = opts.config ? ` -c ${opts.config}` : '';
          process.stdout.write(`\nrun "${result.name}" (tag ${result.tag}) is up. Inspect: ip netns exec NAMESPACE ...; tear down: myikev2 teardown${cfg} ${recipeFile}\n`);
        }
        return result.instances.every((i) => i.state !== 'failed') ? 0 : EXIT_FAILED;
      }),
    );
}
