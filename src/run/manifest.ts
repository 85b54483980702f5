// The run manifest: everything a run created, kept on the controller and on
// each server's daemon, so teardown works from it even after the recipe was
// edited or deleted. Written by the planner, read by teardown.
import { createHash } from 'node:crypto';
import type { InstanceConf, Recipe, ServerCommands } from '../model/recipe-types.js';

export const MANIFEST_VERSION = 1;

export interface DataIfState {
  addrs: string[]; // "ADDR/LEN" of global scope, as found before the run took it, then its `ip addr add` options if any (nodad, label L, …)
  up: boolean;
  mtu?: number; // what an instance may have changed in its namespace (absent in older runs' manifests)
  routes?: string[]; // `ip route` lines through it but its device (not the kernel's), to put back (absent in older runs' manifests)
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
  written?: string; // writtenHash: unchanged, the instance is too, whatever hash says (absent in older runs' manifests)
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
  /** The setupcmds the run was created with (absent in older runs' manifests): its cleancmds undo what they made. */
  setupcmds?: ServerCommands[];
}

/** The part of a run's record on the servers `keep` accepts (its setupcmds stay whole: they are compared with the recipe's). */
export function onServers(m: RunManifest, keep: (server: string) => boolean): RunManifest {
  return { ...m, servers: m.servers.filter(keep), instances: m.instances.filter((r) => keep(r.server)), cleancmds: m.cleancmds.filter((c) => keep(c.server)) };
}

/** The record of a run of `recipe` created `now` on `servers`, with no instance yet, and the recipe's setupcmds and cleancmds. */
export function newManifest(recipe: Recipe, tag: string, now: string, servers: string[]): RunManifest {
  return {
    version: MANIFEST_VERSION,
    tag,
    name: recipe.name,
    recipeFile: recipe.file,
    recipeSha256: recipe.sha256,
    createdAt: now,
    updatedAt: now,
    servers,
    instances: [],
    cleancmds: recipe.cleancmds,
    setupcmds: recipe.setupcmds,
  };
}

/** Hash of what an instance is (its definition and, for engines, its setup), as this build models it. */
export function instanceHash(inst: InstanceConf): string {
  // Where the files live on the controller is not part of what the instance is; what was written is writtenHash's.
  const ignored = new Set(['waitintervalMs', 'file', 'setupPath', 'written', 'sha256']);
  const text = JSON.stringify(inst, (k, v) => (ignored.has(k) ? undefined : v));
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * Hash of what the user wrote for an instance: its recipe entry, its setup
 * file's text, the controller's variables, where it runs and its management
 * address. While it is unchanged the instance is the same, even when another
 * build models it differently (instanceHash changes with every setting a
 * build adds, with its default).
 */
export function writtenHash(inst: InstanceConf, varlist: Record<string, unknown>): string {
  const text = JSON.stringify([inst.id, inst.server, inst.mgmtAddr, inst.written, inst.myikev2?.setup.sha256 ?? null, varlist]);
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
