#!/usr/bin/env node
// The controller's command line. Each subcommand lives in its own module under
// commands/ and registers itself here; a subcommand appears only when it works.
import { buildProgram } from './program.js';
import { registrars } from './commands/index.js';

await buildProgram(registrars).parseAsync(process.argv);
