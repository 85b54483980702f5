// Tab completion: commands, options, instance/server/run names and file
// paths. Pure: the names and a directory lister are passed in.
import { findFlag, findSpec, SPECS, type CommandSpec, type ValueKind } from './spec.js';
import { quoteWord, splitLine } from './words.js';

export interface CompletionNames {
  instances: string[];
  daemons: string[];
  runs: string[];
}

/** Entries of a directory as names, directories ending in "/"; [] when unreadable. */
export type ListDir = (dir: string) => string[];

/** readline's completer contract: [candidates, the text they replace]. */
export function complete(line: string, names: CompletionNames, listDir: ListDir, specs: CommandSpec[] = SPECS): [string[], string] {
  // Completion works on the last command of a `a; b` line.
  const semi = line.lastIndexOf(';');
  const { words, open } = splitLine(semi >= 0 ? line.slice(semi + 1) : line);
  const partial = open ? words[words.length - 1].text : '';
  const before = (open ? words.slice(0, -1) : words).map((w) => w.text);
  // What the user typed for the partial word, quotes included, is what gets replaced.
  const typed = open ? line.slice((semi >= 0 ? semi + 1 : 0) + words[words.length - 1].start) : '';
  const done = (cands: string[]): [string[], string] => {
    const hits = [...new Set(cands.filter((c) => c.startsWith(partial)))].sort();
    // A single hit is completed for good (quoted if needed, then a blank), unless it is a directory.
    if (hits.length === 1) return [[quoteWord(hits[0]) + (hits[0].endsWith('/') ? '' : ' ')], typed];
    return [hits, typed];
  };
  if (before.length === 0) return done(specs.flatMap((s) => [s.name, ...(s.aliases ?? [])]));
  const spec = findSpec(before[0], specs);
  if (!spec) return [[], typed];
  const prev = before.length > 1 ? findFlag(spec, before[before.length - 1]) : undefined;
  if (prev?.value) return done(values(prev.value, partial, names, listDir));
  if (spec.name === 'cli' && before.includes('--')) return [[], typed];
  if (partial.startsWith('-')) {
    const used = new Set(before.slice(1).map((w) => findFlag(spec, w)?.long));
    return done(spec.flags.filter((f) => !used.has(f.long)).flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]));
  }
  if (spec.name === 'help') return done(specs.map((s) => s.name));
  if (spec.args && spec.args.kind !== 'command' && spec.args.kind !== 'code') return done(values(spec.args.kind, partial, names, listDir));
  return [[], typed];
}

function values(kind: ValueKind, partial: string, names: CompletionNames, listDir: ListDir): string[] {
  switch (kind) {
    case 'instance':
      return names.instances;
    case 'daemon':
      return names.daemons;
    case 'run':
      return names.runs;
    case 'bool':
      return ['true', 'false'];
    case 'file':
      return files(partial, listDir);
    default:
      return [];
  }
}

/** Paths starting with `partial`: the directory part kept, entries of that directory appended. */
export function files(partial: string, listDir: ListDir): string[] {
  const slash = partial.lastIndexOf('/');
  const dir = slash >= 0 ? partial.slice(0, slash + 1) : '';
  const base = slash >= 0 ? partial.slice(slash + 1) : partial;
  return listDir(dir || '.')
    .filter((e) => e.startsWith(base) && (base.startsWith('.') || !e.startsWith('.')))
    .map((e) => dir + e);
}
