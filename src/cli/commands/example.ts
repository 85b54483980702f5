import type { Command } from 'commander';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { action } from '../action.js';
import { MyikeError, EXIT_USAGE } from '../../errors.js';
import { packageRoot } from '../../package-root.js';

export function registerExample(program: Command): void {
  program
    .command('example')
    .description('write a commented controller config, recipe and engine setup files to start from')
    .option('-o, --out <dir>', 'directory to write into', 'myikev2-example')
    .option('-f, --force', 'overwrite files that exist')
    .action(
      action(async (opts: { out: string; force?: boolean }) => {
        const written = writeExample(opts.out, !!opts.force);
        process.stdout.write(
          `wrote ${written.map((f) => join(opts.out, f)).join(', ')}\n` +
            `next: edit the addresses in ${join(opts.out, 'controller.yaml')}, then\n` +
            `  myikev2 validate -c ${join(opts.out, 'controller.yaml')} ${join(opts.out, 'recipe.yaml')}\n`,
        );
      }),
    );
}

/** Copies the starter files, pointing their schema lines at the installed schemas. */
export function writeExample(outDir: string, force: boolean): string[] {
  const starter = join(packageRoot(), 'examples', 'starter');
  const files = readdirSync(starter).filter((f) => f.endsWith('.yaml')).sort();
  const clashes = files.filter((f) => existsSync(join(outDir, f)));
  if (clashes.length && !force)
    throw new MyikeError('E_EXISTS', `${clashes.map((f) => join(outDir, f)).join(', ')} already exist(s)`, {
      hint: 'choose another directory with -o, or overwrite with --force',
      exitCode: EXIT_USAGE,
    });
  mkdirSync(outDir, { recursive: true });
  const schemas = resolve(packageRoot(), 'schemas');
  for (const f of files) {
    const text = readFileSync(join(starter, f), 'utf8').replace('$schema=../../schemas', `$schema=${schemas}`);
    writeFileSync(join(outDir, f), text);
  }
  return files;
}
