import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USAGE } from '../errors.js';

export type Registrar = (program: Command) => void;

/** Builds the command line from command modules; usage errors exit 2, help exits 0. */
export function buildProgram(registrars: Registrar[]): Command {
  const program = new Command('myikev2')
    .description('IKEv2/IPsec test beds across Linux servers, agentless over SSH')
    .version(process.env.MYIKEV2_VERSION ?? '0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride((err: CommanderError) => {
      const ok = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(err.code);
      process.exit(ok ? EXIT_OK : EXIT_USAGE);
    });
  for (const register of registrars) register(program);
  // Subcommands inherit the usage-error exit code; a word too many (`run a.yaml b.yaml`) is a usage error, not ignored.
  const strict = (cmd: Command): void => {
    cmd.allowExcessArguments(false);
    cmd.exitOverride((err: CommanderError) => {
      const ok = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(err.code);
      process.exit(ok ? EXIT_OK : EXIT_USAGE);
    });
    cmd.commands.forEach(strict);
  };
  program.commands.forEach(strict);
  return program;
}
