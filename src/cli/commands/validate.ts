import type { Command } from 'commander';
import { action } from '../action.js';
import { placeByConfigOption } from '../../model/config.js';
import { loadInputs } from '../../model/load.js';
import type { Recipe } from '../../model/recipe-types.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a recipe, its setup files and the controller config; touches nothing')
    .argument('<recipe>', 'recipe file (YAML)')
    .option('-c, --config <file>', 'controller config (default: the embedded one, the local machine)')
    .action(
      action(async (recipeFile: string, opts: { config?: string }) => {
        const { recipe, warnings } = loadInputs(recipeFile, opts.config);
        for (const w of warnings) process.stderr.write(w + '\n');
        process.stdout.write(`ok: ${summarize(recipe)}\n`);
      }, placeByConfigOption),
    );
}

/** "recipe NAME: 3 instances on 2 servers (svr1: 2, svr2: 1)" */
export function summarize(recipe: Recipe): string {
  const perServer = new Map<string, number>();
  for (const i of recipe.instances) perServer.set(i.server, (perServer.get(i.server) ?? 0) + 1);
  // Code-unit order: localeCompare would load ICU's collation first (~25 ms).
  const list = [...perServer].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([s, n]) => `${s}: ${n}`).join(', ');
  const n = recipe.instances.length;
  return `recipe "${recipe.name}": ${n} instance${n === 1 ? '' : 's'} on ${perServer.size} server${perServer.size === 1 ? '' : 's'} (${list})`;
}
