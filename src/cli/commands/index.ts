import type { Registrar } from '../program.js';
import { registerValidate } from './validate.js';
import { registerExample } from './example.js';
import { registerRun } from './run.js';
import { registerTeardown } from './teardown.js';
import { registerShell } from './shell.js';
import { registerLab } from './lab.js';
import { registerDaemon } from './daemon.js';
import { registerExec } from './exec.js';
import { registerCli } from './cli.js';

/**
 * Every subcommand of `myikev2`, in the order `--help` lists them. A module
 * whose command does not work yet registers nothing (no command pretends).
 */
export const registrars: Registrar[] = [
  registerRun,
  registerTeardown,
  registerShell,
  registerValidate,
  registerExample,
  registerLab,
  registerDaemon,
  registerExec,
  registerCli,
];
