import type { Command } from 'commander';
export function registerExample(_p: Command): void {}
