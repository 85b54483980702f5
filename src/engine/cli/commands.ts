// Commands of `myikev2 cli`, in a registry so other parts of the engine can
// add theirs (registerCliCommand in their own file, imported by commands/index.ts).
import type { EngineClient } from './client.js';

export interface CliContext {
  client: EngineClient;
  print(text: string): void;
  json: boolean;
  /** Resolves when the user interrupts (Ctrl-C) or the connection ends: ends `events`. */
  interrupted: Promise<void>;
}

export interface CliCommand {
  name: string;
  usage: string; // e.g. 'list [ike|child] [-t N]'
  help: string;
  /** Words offered after the command name. */
  words?: string[];
  /** Runs the command; returns the exit code (0 ok, 1 failed, 2 bad usage). */
  run(ctx: CliContext, args: string[]): Promise<number>;
}

const COMMANDS = new Map<string, CliCommand>();

export function registerCliCommand(cmd: CliCommand): void {
  if (COMMANDS.has(cmd.name)) throw new Error(`cli command ${cmd.name} is registered twice`);
  COMMANDS.set(cmd.name, cmd);
}

export function cliCommand(name: string): CliCommand | undefined {
  return COMMANDS.get(name);
}

export function cliCommands(): CliCommand[] {
  return [...COMMANDS.values()];
}

/** Splits a command line into words (double or single quotes group). */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** `-t N` (a tunnel number, from 1) as a request parameter; none without -t. */
export function tunnelParam(flags: Record<string, string | true>): { tunnel?: number } {
  const t = flags['-t'];
  if (t === undefined) return {};
  const n = Number(t);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`-t needs a tunnel number, got "${t}"`);
  return { tunnel: n };
}

/**
 * Flags like `-t 3`, `--keys` and up to `words` other words; anything else is a
 * usage error (a mistyped `stop --hrad` must not pass for a graceful stop).
 */
export function parseFlags(args: string[], o: { value?: string[]; bare?: string[]; words?: number } = {}): { flags: Record<string, string | true>; rest: string[] } {
  const flags: Record<string, string | true> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (o.value?.includes(a)) {
      if (i + 1 >= args.length) throw new UsageError(`${a} needs a value`);
      flags[a] = args[++i];
    } else if (o.bare?.includes(a)) flags[a] = true;
    else if (a.startsWith('-') && a.length > 1) throw new UsageError(`unknown option ${a}`);
    else rest.push(a);
  }
  if (rest.length > (o.words ?? 0)) throw new UsageError(`unexpected "${rest[o.words ?? 0]}"`);
  return { flags, rest };
}

export class UsageError extends Error {}

/** Completion for readline: command names first, then the command's words. */
export function complete(line: string): [string[], string] {
  const words = splitWords(line);
  const endsWithSpace = /\s$/.test(line);
  if (words.length === 0 || (words.length === 1 && !endsWithSpace)) {
    const prefix = words[0] ?? '';
    const hits = [...COMMANDS.keys(), 'help', 'quit'].filter((n) => n.startsWith(prefix)).sort();
    return [hits, prefix];
  }
  const cmd = COMMANDS.get(words[0]);
  const prefix = endsWithSpace ? '' : words[words.length - 1];
  return [(cmd?.words ?? []).filter((w) => w.startsWith(prefix)), prefix];
}
