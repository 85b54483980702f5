#!/usr/bin/env node
// Entry of the bundle pushed to servers: only what runs there (daemon, engine,
// engine CLI), so the bundle carries no SSH client or controller code.
import { buildProgram } from './program.js';
import { registerDaemon } from './commands/daemon.js';
import { registerExec } from './commands/exec.js';
import { registerCli } from './commands/cli.js';

await buildProgram([registerDaemon, registerExec, registerCli]).parseAsync(process.argv);
