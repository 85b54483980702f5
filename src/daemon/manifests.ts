import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';

const FILE_VERSION = 1;

/** Where a daemon with this state directory keeps its run manifests (read by a controller while no daemon runs). */
export const manifestsFile = (stateDir: string): string => join(stateDir, 'manifests.json');

/** The keys in a manifests file's text; null if it is not one this build knows. */
export function manifestKeysIn(text: string): string[] | null {
  try {
    const doc = JSON.parse(text) as { version?: unknown; entries?: unknown };
    return doc.version === FILE_VERSION && doc.entries && typeof doc.entries === 'object' ? Object.keys(doc.entries) : null;
  } catch {
    return null;
  }
}

/** The daemon's persistent key → JSON store (run manifests), one atomic file. */
export class ManifestStore {
  private readonly path: string;
  private readonly entries = new Map<string, unknown>();

  constructor(stateDir: string, log: (msg: string) => void = () => {}) {
    this.path = manifestsFile(stateDir);
    const saved = (readJsonFile(this.path, log) as { entries?: Record<string, unknown> } | undefined)?.entries ?? {};
    for (const [k, v] of Object.entries(saved)) this.entries.set(k, v);
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): unknown {
    return this.entries.get(key);
  }

  put(key: string, value: unknown): void {
    this.entries.set(key, value);
    this.save();
  }

  delete(key: string): boolean {
    if (!this.entries.delete(key)) return false;
    this.save();
    return true;
  }

  keys(prefix = ''): string[] {
    return [...this.entries.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort();
  }

  private save(): void {
    writeFileAtomic(this.path, JSON.stringify({ version: FILE_VERSION, entries: Object.fromEntries(this.entries) }) + '\n');
  }
}
