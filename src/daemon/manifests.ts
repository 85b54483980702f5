import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';

/** The daemon's persistent key → JSON store (run manifests), one atomic file. */
export class ManifestStore {
  private readonly path: string;
  private readonly entries = new Map<string, unknown>();

  constructor(stateDir: string, log: (msg: string) => void = () => {}) {
    this.path = join(stateDir, 'manifests.json');
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
    writeFileAtomic(this.path, JSON.stringify({ version: 1, entries: Object.fromEntries(this.entries) }) + '\n');
  }
}
