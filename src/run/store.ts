// The controller's copy of run manifests: one JSON file per run tag under the
// controller state directory (MYIKEV2_STATE_DIR, default
// ~/.local/state/myikev2), written atomically.
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../daemon/atomic-file.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { textSha256 } from '../model/source.js';
import type { RunManifest } from './manifest.js';

export function controllerStateDir(): string {
  return process.env.MYIKEV2_STATE_DIR || join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'myikev2');
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

/** The name of the run this controller started from a recipe with exactly this file's text, if any. */
export function runNameOfRecipeFile(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const sha = textSha256(text);
  return listManifests().find((m) => m.recipeSha256 === sha)?.name ?? null;
}
