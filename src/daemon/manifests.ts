import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

/** The daemon's persistent key → JSON store (run manifests), one atomic file. */
export class ManifestStore {
  private readonly path: string;
  private readonly entries = new Map<string, unknown>();

  constructor(stateDir: string) {
    this.path = join(stateDir, 'manifests.json');
    try {
      const saved = JSON.parse(readFileSync(this.path, 'utf8')).entries ?? {};
      for (const [k, v] of Object.entries(saved)) this.entries.set(k, v);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
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
