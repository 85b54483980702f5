#!/usr/bin/env node
// Entry of the daemon's own file on servers (myikev2-daemon.mjs): the daemon
// command only, a fifth of the server bundle, so a daemon starts sooner.
import { buildProgram } from './program.js';
import { registerDaemon } from './commands/daemon.js';

await buildProgram([registerDaemon]).parseAsync(process.argv);
