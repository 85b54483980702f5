// A very small template language for the scripts in templates/: `{{key}}` is
// replaced by a value, and a line starting with `?key ` is kept only when
// that key has a non-empty value. Values are names and addresses the model
// validated; the renderer still refuses anything that is not plain, so no
// recipe text is ever pasted unquoted into a script.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MyikeError } from '../errors.js';
import { packageRoot } from '../package-root.js';

const cache = new Map<string, string>();
const parsed = new Map<string, TemplateLine[]>();

interface TemplateLine {
  cond: string | null; // `?key ` lines: kept only when key has a value
  text: string;
}

export function template(name: string): string {
  let t = cache.get(name);
  if (t === undefined) cache.set(name, (t = readFileSync(join(packageRoot(), 'templates', name), 'utf8')));
  return t;
}

/** A template's lines, split once: a run renders the same few templates hundreds of times. */
function templateLines(name: string): TemplateLine[] {
  let lines = parsed.get(name);
  if (!lines) {
    lines = template(name).split('\n').map((line) => {
      const cond = /^\?(\w+) (.*)$/.exec(line);
      return cond ? { cond: cond[1], text: cond[2] } : { cond: null, text: line };
    });
    parsed.set(name, lines);
  }
  return lines;
}

const PLAIN = /^[A-Za-z0-9_.:@/%-]*$/;

/** Words of an `ip` argument list (an address or route as found on a server), each plain; refused otherwise. */
export function plainWords(text: string): string {
  const words = text.trim().split(/\s+/);
  if (!words.every((w) => w && PLAIN.test(w))) throw new MyikeError('E_INTERNAL', `refusing to render a value that is not plain words: ${JSON.stringify(text)}`);
  return words.join(' ');
}

export type Values = Record<string, string | number>;

/** Renders a template; `raw` values (already rendered text) skip the plainness check. */
export function render(name: string, values: Values, raw: Record<string, string> = {}): string {
  const all: Record<string, string> = {};
  for (const k in values) {
    const v = String(values[k]);
    if (!PLAIN.test(v)) throw new MyikeError('E_INTERNAL', `refusing to render ${name}: value of ${k} is not plain: ${JSON.stringify(values[k])}`);
    all[k] = v;
  }
  Object.assign(all, raw);
  const out: string[] = [];
  for (const { cond, text } of templateLines(name)) {
    if (cond !== null && !all[cond]) continue;
    out.push(
      text.includes('{{')
        ? text.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => {
            if (!(k in all)) throw new MyikeError('E_INTERNAL', `template ${name} uses {{${k}}} but no value was given`);
            return all[k];
          })
        : text,
    );
  }
  return out.join('\n');
}
