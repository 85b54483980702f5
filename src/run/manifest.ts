// The run manifest: everything a run created, kept on the controller and on
// each server's daemon, so teardown works from it even after the recipe was
// edited or deleted. Written by the planner, read by teardown.
import { createHash } from 'node:crypto';
import type { InstanceConf, ServerCommands } from '../model/recipe-types.js';

export const MANIFEST_VERSION = 1;

export interface DataIfState {
  addrs: string[]; // "ADDR/LEN" of global scope, as found before the run took it
  up: boolean;
}

export interface InstanceRecord {
  id: number;
  name: string;
  server: string;
  kind: 'myikev2' | 'other';
  netns: string;
  vethHost: string;
  daemonName: string;
  runDir: string;
  logdir: string;
  mgmtAddr: string; // '' = none
  dataIf: string | null;
  dataIfAddr: string; // address the run put on it ('' = none or set by the engine)
  dataIfOrig: DataIfState | null; // to give the interface back as it was
  destroycmds: string; // other instances: graceful stop commands
  hash: string; // of the instance's definition, to detect drift on the next run
  wave?: number; // started in this wave (0: first): teardown stops later waves first (absent in older runs' manifests)
}

export interface RunManifest {
  version: number;
  tag: string;
  name: string; // recipe name
  recipeFile: string;
  recipeSha256?: string; // of the recipe's text (absent in manifests of older runs)
  createdAt: string;
  updatedAt: string;
  servers: string[];
  instances: InstanceRecord[];
  cleancmds: ServerCommands[];
}

/** Hash of what an instance is (its definition and, for engines, its setup). */
export function instanceHash(inst: InstanceConf): string {
  // Where the files live on the controller is not part of what the instance is.
  const ignored = new Set(['waitintervalMs', 'file', 'setupPath']);
  const text = JSON.stringify(inst, (k, v) => (ignored.has(k) ? undefined : v));
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
