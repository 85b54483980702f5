// The controller's state (MYIKEV2_STATE_DIR, default ~/.local/state/myikev2):
// its copy of run manifests, one JSON file per run tag, written atomically;
// and the instances' logs saved at teardown, one directory per teardown.
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../daemon/atomic-file.js';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { textSha256 } from '../model/source.js';
import { EXIT_USAGE, MyikeError } from '../errors.js';
import type { RunManifest } from './manifest.js';
import { runTag } from './names.js';

export function controllerStateDir(): string {
  return process.env.MYIKEV2_STATE_DIR || join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'myikev2');
}

/** Saved log directories kept per run name, unless MYIKEV2_KEEP_LOGS says otherwise. */
export const DEFAULT_LOGS_KEPT = 20;

/** How many saved log directories of one run the controller keeps (MYIKEV2_KEEP_LOGS; 0: all of them). */
export function logsKeptPerRun(): number {
  const v = process.env.MYIKEV2_KEEP_LOGS;
  if (v === undefined || v === '') return DEFAULT_LOGS_KEPT;
  if (!/^\d+$/.test(v)) {
    throw new MyikeError('E_USAGE', `MYIKEV2_KEEP_LOGS=${v}: expected a whole number (how many saved log directories to keep per run; 0: all)`, {
      hint: `unset it to keep the newest ${DEFAULT_LOGS_KEPT}`,
      exitCode: EXIT_USAGE,
    });
  }
  return Number(v);
}

const logsRoot = () => join(controllerStateDir(), 'logs');
/**
 * A run's saved-log directories start with its name made safe for a file
 * name, and, when that changed it, its tag: "a/b" and "a_b" would otherwise
 * share them, and pruning one run's would remove the other's.
 */
const dirPrefix = (name: string) => {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return safe === name ? `${name}-` : `${safe}-${runTag(name)}-`;
};
const TIME_SUFFIX = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/;

/** Where the controller keeps the logs of a run it tore down (or rolled back): a directory per teardown. */
export function logsDirFor(name: string, at = new Date()): string {
  return join(logsRoot(), dirPrefix(name) + at.toISOString().replace(/[:.]/g, '-'));
}

/** Removes the oldest saved log directories of run `name` beyond the newest `keep` (0: keeps all); returns how many went. */
export function pruneLogs(name: string, keep: number): number {
  if (keep === 0) return 0;
  const prefix = dirPrefix(name);
  let dirs: string[];
  try {
    dirs = readdirSync(logsRoot());
  } catch {
    return 0;
  }
  // The time suffix sorts as it happened; another run whose name starts the same ("a" and "a-b") has no such suffix here.
  const old = dirs.filter((d) => d.startsWith(prefix) && TIME_SUFFIX.test(d.slice(prefix.length))).sort().slice(0, -keep);
  for (const d of old) rmSync(join(logsRoot(), d), { recursive: true, force: true });
  return old.length;
}

/** What to add to "logs saved in DIR" when older ones went. */
export function prunedNote(pruned: number, keep: number): string {
  return pruned ? ` (removed the ${pruned} oldest saved logs of this run: the newest ${keep} are kept; MYIKEV2_KEEP_LOGS=0 keeps all)` : '';
}

function runsDir(): string {
  return join(controllerStateDir(), 'runs');
}

export function readManifest(tag: string): RunManifest | null {
  try {
    return JSON.parse(readFileSync(join(runsDir(), `${tag}.json`), 'utf8')) as RunManifest;
  } catch {
    return null;
  }
}

export function writeManifest(m: RunManifest): void {
  const dir = runsDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(join(dir, `${m.tag}.json`), JSON.stringify(m, null, 2) + '\n');
}

export function deleteManifest(tag: string): void {
  rmSync(join(runsDir(), `${tag}.json`), { force: true });
}

export function listManifests(): RunManifest[] {
  let files: string[] = [];
  try {
    files = readdirSync(runsDir()).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.map((f) => readManifest(f.slice(0, -5))).filter((m): m is RunManifest => m !== null);
}

/** Names of the runs on record that were started from this recipe file (whatever its name is now). */
export function runsStartedFrom(file: string): string[] {
  return [...new Set(listManifests().filter((m) => m.recipeFile === resolve(file)).map((m) => m.name))].sort();
}

/** The name of the run this controller started from a recipe with exactly this file's text, if any; for a deleted file, the one run started from that path. */
export function runNameOfRecipeFile(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    const names = runsStartedFrom(file);
    return names.length === 1 ? names[0] : null;
  }
  const sha = textSha256(text);
  return listManifests().find((m) => m.recipeSha256 === sha)?.name ?? null;
}
