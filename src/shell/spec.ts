// The shell's command table (names, flags, usage) and the parser from words
// to a parsed command. Pure: what each command does lives in commands.ts.
import { EXIT_USAGE, MyikeError } from '../errors.js';

/** What a flag's value (or a positional argument) is, for parsing and completion. */
export type ValueKind = 'instance' | 'daemon' | 'file' | 'bool' | 'count' | 'run' | 'command' | 'code';

export interface FlagSpec {
  short?: string; // one letter, without the dash
  long: string; // without the dashes; also the key in Parsed.flags
  value?: ValueKind; // absent: a switch
  help: string;
}

export interface CommandSpec {
  name: string;
  aliases?: string[];
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** Positional arguments: their kind and how many at most (Infinity: the rest of the line). */
  args?: { kind: ValueKind; max: number; name: string };
  required?: string[]; // long names of required flags
}

export interface Parsed {
  spec: CommandSpec;
  flags: Record<string, string | boolean>;
  args: string[];
}

export const SPECS: CommandSpec[] = [
  {
    name: 'def',
    usage: 'def -f RECIPE [-o] [-k]',
    summary: 'bring a recipe up (as `myikev2 run`): namespaces, then the instances',
    flags: [
      { short: 'f', long: 'file', value: 'file', help: 'the recipe file' },
      { short: 'o', long: 'override', help: 'replace instances whose definition changed' },
      { short: 'k', long: 'keep-on-failure', help: 'keep what a failed or cancelled def created, for inspection (tear it down after)' },
    ],
    required: ['file'],
  },
  {
    name: 'list',
    aliases: ['ls'],
    usage: 'list [-d DAEMON] [-w] [--json]',
    summary: 'instances: server, namespace, state, management address, uptime, restarts, engine tunnels and pings',
    flags: [
      { short: 'd', long: 'daemon', value: 'daemon', help: 'only the instances on this server' },
      { short: 'w', long: 'wide', help: 'every column, however wide the terminal (a narrower one leaves out namespace, restarts, uptime, management address, in that order)' },
      { long: 'json', help: 'print JSON' },
    ],
  },
  {
    name: 'cli',
    usage: 'cli -t INSTANCE [-- COMMAND...]',
    summary: "interactive session: the engine's CLI (myikev2 instance) or a root shell in the instance's namespace (other); with COMMAND, run just that",
    flags: [{ short: 't', long: 'target', value: 'instance', help: 'the instance' }],
    args: { kind: 'command', max: Infinity, name: 'COMMAND' },
    required: ['target'],
  },
  { name: 'shell', usage: 'shell', summary: 'a system shell on this machine; leave it (exit, Ctrl-D) to come back', flags: [] },
  {
    name: 'clearping',
    usage: 'clearping [-t INSTANCE] [-y]',
    summary: 'reset the ping statistics of one myikev2 instance, or of all',
    flags: [
      { short: 't', long: 'target', value: 'instance', help: 'the instance (default: every myikev2 instance)' },
      { short: 'y', long: 'yes', help: 'do not ask for confirmation' },
    ],
  },
  {
    name: 'stop',
    usage: 'stop [-g true|false] -t INSTANCE',
    summary: 'stop one instance: gracefully (destroycmds / DELETEs, SIGTERM, SIGKILL after 10 s) or at once (-g false)',
    flags: [
      { short: 't', long: 'target', value: 'instance', help: 'the instance' },
      { short: 'g', long: 'graceful', value: 'bool', help: 'true (default) or false' },
    ],
    required: ['target'],
  },
  {
    name: 'teardown',
    usage: 'teardown [RUN] [-y] [--force]',
    summary: 'tear a run down (default: the one in use) and verify nothing is left',
    flags: [
      { short: 'y', long: 'yes', help: 'do not ask for confirmation' },
      { long: 'force', help: 'kill instances at once instead of stopping them gracefully' },
    ],
    args: { kind: 'run', max: 1, name: 'RUN' },
  },
  {
    name: 'logs',
    usage: 'logs -t INSTANCE [-f] [-n LINES]',
    summary: "an instance's output (stdout and stderr); -f follows it until Ctrl-C",
    flags: [
      { short: 't', long: 'target', value: 'instance', help: 'the instance' },
      { short: 'f', long: 'follow', help: 'keep printing new output (Ctrl-C ends)' },
      { short: 'n', long: 'lines', value: 'count', help: 'lines of each stream to show first (default 50)' },
    ],
    required: ['target'],
  },
  { name: 'help', usage: 'help [COMMAND]', summary: 'the commands, or one command in detail', flags: [], args: { kind: 'command', max: 1, name: 'COMMAND' } },
  { name: 'exit', aliases: ['quit'], usage: 'exit [CODE]', summary: 'leave the shell (also Ctrl-D)', flags: [], args: { kind: 'code', max: 1, name: 'CODE' } },
];

export function findSpec(name: string, specs = SPECS): CommandSpec | undefined {
  return specs.find((s) => s.name === name || s.aliases?.includes(name));
}

function usageError(message: string, spec?: CommandSpec): MyikeError {
  return new MyikeError('E_USAGE', message, { hint: spec ? `usage: ${spec.usage}` : 'help lists the commands', exitCode: EXIT_USAGE });
}

export function findFlag(spec: CommandSpec, word: string): FlagSpec | undefined {
  if (word.startsWith('--')) return spec.flags.find((f) => f.long === word.slice(2).split('=')[0]);
  if (word.startsWith('-') && word.length === 2) return spec.flags.find((f) => f.short === word[1]);
  return undefined;
}

/** Words → a parsed command, or a usage error that says what is wrong and shows the usage. */
export function parseCommand(words: string[], specs = SPECS): Parsed {
  const [name, ...rest] = words;
  const spec = findSpec(name, specs);
  if (!spec) throw usageError(`unknown command "${name}"`);
  const flags: Record<string, string | boolean> = {};
  const args: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i];
    if (w === '--' && spec.args?.kind === 'command') {
      args.push(...rest.slice(i + 1));
      break;
    }
    if (w.startsWith('-') && w !== '-' && !/^-\d/.test(w)) {
      const flag = findFlag(spec, w);
      if (!flag) throw usageError(`${spec.name}: unknown option ${w}`, spec);
      let value: string | boolean = true;
      if (!flag.value && w.includes('=')) throw usageError(`${spec.name}: --${flag.long} takes no value`, spec);
      if (flag.value) {
        const eq = w.indexOf('=');
        if (w.startsWith('--') && eq > 0) value = w.slice(eq + 1);
        else if (i + 1 < rest.length) value = rest[++i];
        else throw usageError(`${spec.name}: ${w} needs a value`, spec);
        if (flag.value === 'bool') {
          if (value !== 'true' && value !== 'false') throw usageError(`${spec.name}: ${w} takes true or false, not "${value}"`, spec);
        } else if (flag.value === 'count' && !/^\d+$/.test(value)) throw usageError(`${spec.name}: ${w} takes a number, not "${value}"`, spec);
      }
      if (flag.long in flags) throw usageError(`${spec.name}: ${w} given twice`, spec);
      flags[flag.long] = value;
      continue;
    }
    if (!spec.args) throw usageError(`${spec.name} takes no argument ("${w}")`, spec);
    if (spec.args.kind === 'command' && spec.name === 'cli') {
      // Everything after the options is the command to run in the instance.
      args.push(...rest.slice(i));
      break;
    }
    if (args.length >= spec.args.max) throw usageError(`${spec.name}: too many arguments ("${w}")`, spec);
    args.push(w);
  }
  for (const r of spec.required ?? []) {
    if (!(r in flags)) {
      const f = spec.flags.find((x) => x.long === r)!;
      throw usageError(`${spec.name}: ${f.short ? `-${f.short}` : `--${f.long}`} ${f.value === 'instance' ? 'INSTANCE' : f.value === 'file' ? 'FILE' : 'VALUE'} is required`, spec);
    }
  }
  if (spec.args?.kind === 'code' && args.length && !(/^\d{1,3}$/.test(args[0]) && Number(args[0]) <= 255)) throw usageError(`${spec.name}: CODE must be a number 0-255`, spec);
  return { spec, flags, args };
}

/** One command's help: usage, what it does, its options. */
export function commandHelp(spec: CommandSpec, width = Infinity): string {
  const lines = [`usage: ${spec.usage}`, `  ${wrap(spec.summary, width - 2).replace(/\n/g, '\n  ')}`];
  for (const f of spec.flags) {
    const names = [f.short && `-${f.short}`, `--${f.long}`].filter(Boolean).join(', ');
    lines.push(`  ${(names + (f.value && f.value !== 'bool' ? ` ${f.value.toUpperCase()}` : f.value === 'bool' ? ' true|false' : '')).padEnd(26)} ${f.help}`);
  }
  if (spec.aliases?.length) lines.push(`  also: ${spec.aliases.join(', ')}`);
  return lines.join('\n');
}

/** `text` in lines of at most `width` columns (a longer word keeps a line of its own), the later ones indented by `indent`. */
export function wrap(text: string, width: number, indent = 0): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const room = width - (lines.length ? indent : 0);
    if (line && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.map((l, i) => (i ? ' '.repeat(indent) + l : l)).join('\n');
}

/** The list of commands, wrapped to `width` columns (the terminal's). */
export function helpText(specs = SPECS, width = Infinity): string {
  const w = Math.max(...specs.map((s) => s.usage.length));
  // Summaries wrap beside the usages; on a terminal too narrow for that, below them.
  const beside = width - w - 2 >= 30;
  return [
    ...specs.map((s) => (beside ? wrap(`${s.usage.padEnd(w)}  ${s.summary}`, width, w + 2) : `${s.usage}\n    ${wrap(s.summary, width - 4).replace(/\n/g, '\n    ')}`)),
    '',
    wrap('Tab completes commands, options, instance and server names and files; Ctrl-C cancels the running command; Ctrl-D leaves.', width),
  ].join('\n');
}
