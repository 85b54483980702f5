import type { Command } from 'commander';
export function registerValidate(_p: Command): void {}
