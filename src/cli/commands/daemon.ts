import type { Command } from 'commander';

/** Not built yet: registers nothing until the command works. */
export function registerDaemon(_program: Command): void {}
