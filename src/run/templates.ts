// A very small template language for the scripts in templates/: `{{key}}` is
// replaced by a value, and a line starting with `?key ` is kept only when
// that key has a non-empty value. Values are names and addresses the model
// validated; the renderer still refuses anything that is not plain, so no
// recipe text is ever pasted unquoted into a script.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MyikeError } from '../errors.js';

const TEMPLATE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'templates');
const cache = new Map<string, string>();

export function template(name: string): string {
  let t = cache.get(name);
  if (t === undefined) cache.set(name, (t = readFileSync(join(TEMPLATE_DIR, name), 'utf8')));
  return t;
}

const PLAIN = /^[A-Za-z0-9_.:@/%-]*$/;

export type Values = Record<string, string | number>;

/** Renders a template; `raw` values (already rendered text) skip the plainness check. */
export function render(name: string, values: Values, raw: Record<string, string> = {}): string {
  for (const [k, v] of Object.entries(values))
    if (!PLAIN.test(String(v))) throw new MyikeError('E_INTERNAL', `refusing to render ${name}: value of ${k} is not plain: ${JSON.stringify(v)}`);
  const all: Record<string, string> = { ...Object.fromEntries(Object.entries(values).map(([k, v]) => [k, String(v)])), ...raw };
  const lines: string[] = [];
  for (const line of template(name).split('\n')) {
    const cond = /^\?(\w+) (.*)$/.exec(line);
    if (cond && !all[cond[1]]) continue;
    lines.push((cond ? cond[2] : line).replace(/\{\{(\w+)\}\}/g, (_m, k: string) => {
      if (!(k in all)) throw new MyikeError('E_INTERNAL', `template ${name} uses {{${k}}} but no value was given`);
      return all[k];
    }));
  }
  return lines.join('\n');
}
