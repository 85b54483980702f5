import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USAGE } from '../errors.js';

export type Registrar = (program: Command) => void;

/** Builds the command line from command modules; usage errors exit 2, help exits 0. */
export function buildProgram(registrars: Registrar[]): Command {
  const program = new Command('myikev2')
    .description('IKEv2/IPsec test beds across Linux servers, agentless over SSH')
    .version(process.env.MYIKEV2_VERSION ?? '0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride((err: CommanderError) => process.exit(isHelp(err) ? EXIT_OK : EXIT_USAGE));
  for (const register of registrars) register(program);
  // Subcommands inherit the usage-error exit code; a word too many (`run a.yaml b.yaml`) is a usage error, not ignored.
  const strict = (cmd: Command): void => {
    cmd.allowExcessArguments(false);
    cmd.exitOverride((err: CommanderError) => {
      const ok = isHelp(err);
      // A --json reader gets a usage error as JSON on stdout too, as every other error (cli/action.ts).
      const json = cmd.options.find((o) => o.long === '--json');
      if (!ok && json && process.argv.slice(2).some((a) => a === json.long || a === json.short))
        process.stdout.write(JSON.stringify({ error: { code: 'E_USAGE', message: err.message.replace(/^error: /, ''), exitCode: EXIT_USAGE } }, null, 2) + '\n');
      process.exit(ok ? EXIT_OK : EXIT_USAGE);
    });
    cmd.commands.forEach(strict);
  };
  program.commands.forEach(strict);
  for (const cmd of [...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
    const lines = EXAMPLES[commandPath(cmd)];
    if (lines) cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  }
  return program;
}

/** Help or version asked for. Help shown because the command word is missing
 *  (`myikev2`, `myikev2 lab`) is bad usage: commander gives it exit code 1. */
function isHelp(err: CommanderError): boolean {
  if (err.code === 'commander.help') return err.exitCode === 0;
  return err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
}

/** A subcommand's words after `myikev2` (`lab up`). */
export function commandPath(cmd: Command): string {
  const words: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) words.unshift(c.name());
  return words.join(' ');
}

/** Shown after each command's options; test/cli checks they use only options the command has. */
export const EXAMPLES: Record<string, string[]> = {
  run: [
    'myikev2 run examples/quickstart/recipe.yaml                     # on this machine (no -c)',
    'myikev2 run -c .myikev2-lab/controller.yaml examples/starter/recipe.yaml',
    'myikev2 run -c controller.yaml recipe.yaml --dry-run            # what it would do, touching nothing',
    'myikev2 run -c controller.yaml recipe.yaml -o --json            # replace changed instances; JSON result',
  ],
  teardown: [
    'myikev2 teardown examples/quickstart/recipe.yaml',
    'myikev2 teardown -c .myikev2-lab/controller.yaml --name starter  # the recipe is gone or edited',
    'myikev2 teardown -c controller.yaml recipe.yaml --force --no-logs',
  ],
  validate: ['myikev2 validate -c controller.yaml recipe.yaml'],
  example: ['myikev2 example -o mytest && myikev2 validate -c mytest/controller.yaml mytest/recipe.yaml'],
  shell: [
    'myikev2 shell -c .myikev2-lab/controller.yaml',
    'myikev2 shell -c controller.yaml --exec "def -f recipe.yaml; list --json"',
  ],
  exec: ['myikev2 exec -f gateway.yaml -j'],
  cli: [
    'myikev2 cli --run-dir /run/myikev2/runs/med4f/client --exec psummary',
    'myikev2 cli --addr 2001:db8:1::1:7 --exec "list -t 3"',
  ],
  'lab up': [
    'myikev2 lab up --servers 3                   # files in ./.myikev2-lab',
    'myikev2 lab up -n 2 -d /tmp/lab --id abc --data srv1-srv2',
  ],
  'lab down': ['myikev2 lab down -d /tmp/lab', 'myikev2 lab down --id abc     # DIR was lost'],
  'lab status': ['myikev2 lab status -d /tmp/lab --json'],
};
