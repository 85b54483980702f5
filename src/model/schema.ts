// JSON Schema validation (ajv) of a parsed document, with every error mapped
// back to its file, line and key path. Defaults from the schemas are filled in
// here, so the schemas are the single source of keys, types and defaults.
import type { ErrorObject, ValidateFunction } from 'ajv';
import { DURATION_EXPECTED } from './duration.js';
import { Diagnostics, SECRET_KEYS, type KeyPath, type SourceDoc } from './source.js';
// Compiled at build time (scripts/compile-schemas.mjs): compiling at start cost ~0.2 s.
import * as compiledValidators from './validators.generated.js';
// Imported (not read from disk) so the server bundle carries them too.
import controllerSchema from '../../schemas/controller.schema.json' with { type: 'json' };
import recipeSchema from '../../schemas/recipe.schema.json' with { type: 'json' };
import setupSchema from '../../schemas/setup.schema.json' with { type: 'json' };

export type SchemaKind = 'controller' | 'recipe' | 'setup';

const SCHEMAS: Record<SchemaKind, Record<string, unknown>> = {
  controller: controllerSchema,
  recipe: recipeSchema,
  setup: setupSchema,
};

export function loadSchema(kind: SchemaKind): Record<string, unknown> {
  return structuredClone(SCHEMAS[kind]);
}

function validator(kind: SchemaKind): ValidateFunction {
  return (compiledValidators as Record<SchemaKind, ValidateFunction>)[kind];
}

/** Where schema errors were found, so later checks can skip just those parts. */
export class SchemaResult {
  constructor(readonly badPaths: string[]) {}
  get ok(): boolean {
    return this.badPaths.length === 0;
  }
  /** Is there an error at or under this key path (or at the top level)? */
  badUnder(path: KeyPath): boolean {
    const prefix = path.join('/');
    return this.badPaths.some((p) => p === '' || p === prefix || prefix.startsWith(p + '/') || p.startsWith(prefix + '/'));
  }
}

/**
 * Runs the checks the schema cannot express even when the schema found errors,
 * so all problems are reported in one pass: errors about parts the schema
 * already rejected are dropped, and a check tripping over such a part stops
 * quietly. Returns the check's result only when everything is valid.
 */
export function semanticPass<T>(schema: SchemaResult, diag: Diagnostics, check: (d: Diagnostics) => T): T | null {
  const sub = new Diagnostics();
  let out: T | null = null;
  try {
    out = check(sub);
  } catch (err) {
    if (schema.ok) throw err;
  }
  sub.errors.forEach((e, i) => {
    if (schema.ok || !schema.badUnder(sub.paths[i])) diag.adopt(e, sub.paths[i]);
  });
  diag.warnings.push(...sub.warnings);
  return schema.ok && sub.ok ? out : null;
}

/**
 * Validates src.data against the schema, filling in defaults (in place).
 * Returns null when the document is not even a mapping.
 */
export function validateAgainstSchema(kind: SchemaKind, src: SourceDoc, diag: Diagnostics): SchemaResult | null {
  if (src.data === null || src.data === undefined || typeof src.data !== 'object' || Array.isArray(src.data)) {
    if (src.ok) diag.error(src, [], { message: src.data == null ? 'the file is empty' : 'is not a mapping of keys', expected: `a ${kind} document (a YAML mapping)`, hint: 'run `myikev2 example` for a commented example' });
    return null;
  }
  const validate = validator(kind);
  if (validate(src.data)) return new SchemaResult([]);
  const bad: string[] = [];
  const seen = new Set<string>();
  for (const e of validate.errors ?? []) {
    const mapped = mapError(e, kind);
    if (!mapped) continue;
    const key = `${mapped.path.join('/')}|${mapped.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    diag.error(src, mapped.path, mapped);
    const missing = e.keyword === 'required' ? [String((e.params as { missingProperty: string }).missingProperty)] : [];
    bad.push([...mapped.path, ...missing].join('/'));
  }
  return new SchemaResult(bad);
}

interface Mapped {
  path: KeyPath;
  message: string;
  expected?: string;
  hint?: string;
  at?: 'key' | 'value';
  hideValue?: boolean;
}

function pathOf(instancePath: string): KeyPath {
  return instancePath === '' ? [] : instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function mapError(e: ErrorObject, kind: SchemaKind): Mapped | null {
  const path = pathOf(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return {
        path,
        message: `missing required key "${p.missingProperty}"`,
        hint: `add "${p.missingProperty}:" here (see the ${kind} reference in the README)`,
      };
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const known = knownKeys(e.parentSchema);
      const near = closest(key, known);
      return {
        path: [...path, key],
        at: 'key',
        hideValue: mayBeSecret(key),
        message: `unknown key "${key}"`,
        expected: known.length ? `one of: ${known.join(', ')}` : undefined,
        hint: near ? `did you mean "${near}"?` : 'remove it, or check the spelling against the reference',
      };
    }
    case 'propertyNames':
      return null; // reported by the nested pattern error, which names the key
    case 'pattern':
      if (p.pattern && (e as ErrorObject & { propertyName?: string }).propertyName !== undefined) {
        const name = (e as ErrorObject & { propertyName?: string }).propertyName!;
        return keyNameError(path, name, kind);
      }
      return { path, message: `does not match ${p.pattern}` };
    case 'type':
      return { path, message: `wrong type`, ...typeAdvice(String(p.type), e.data, e.parentSchema as { default?: unknown }, path) };
    case 'enum': {
      const allowed = p.allowedValues as unknown[];
      const near = typeof e.data === 'string' ? closest(e.data, allowed.filter((v): v is string => typeof v === 'string')) : undefined;
      return { path, message: `invalid value`, expected: `one of: ${allowed.map((v) => JSON.stringify(v)).join(', ')}`, hint: near ? `did you mean "${near}"?` : undefined };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, message: `out of range`, expected: `a number ${p.comparison} ${p.limit}` };
    case 'minItems':
      return { path, message: `list is too short`, expected: `at least ${p.limit} item(s)` };
    case 'minProperties':
      return { path, message: `is empty`, expected: `at least ${p.limit} entry` };
    case 'minLength':
      return { path, message: `is empty`, expected: `a non-empty string` };
    case 'maxLength':
      return { path, message: `is too long`, expected: `at most ${p.limit} characters` };
    default:
      return { path, message: e.message ?? 'invalid' };
  }
}

/** What a value of the wrong type should look like, and how to write it (YAML reads `5`, `yes`, `"22"` other than one may think). */
function typeAdvice(type: string, data: unknown, schema: { default?: unknown } | undefined, path: KeyPath): { expected: string; hint?: string } {
  const key = String(path[path.length - 1] ?? '');
  const secret = SECRET_KEYS.has(key);
  const isDuration = typeof schema?.default === 'string' && /^\d+(ms|s|m|h)/.test(schema.default);
  const scalar = typeof data === 'number' || typeof data === 'boolean';
  if (type === 'string' && isDuration) return { expected: DURATION_EXPECTED, hint: typeof data === 'number' ? `give the unit: ${key}: ${data}s (or ms, m, h)` : undefined };
  if (type.startsWith('string') && scalar)
    return { expected: 'string', hint: secret ? 'put the value in quotes' : `put the value in quotes: ${key}: "${String(data)}"` };
  if ((type === 'integer' || type === 'number') && typeof data === 'string')
    return { expected: type, hint: /^\s*-?\d+(\.\d+)?\s*$/.test(data) ? `write the number without quotes: ${key}: ${data.trim()}` : 'give a number' };
  if (type === 'boolean') return { expected: 'boolean', hint: `write true or false, without quotes` };
  if (type.startsWith('array')) return { expected: type.replace(',', ' or '), hint: 'a YAML list: one item per line, each starting with "- "' };
  if (type.startsWith('object')) return { expected: type.replace(',', ' or '), hint: 'a mapping: "key: value" lines indented under this key' };
  return { expected: type.replace(',', ' or ') };
}

function keyNameError(path: KeyPath, name: string, kind: SchemaKind): Mapped {
  const parent = path[path.length - 1];
  if (kind === 'recipe' && parent === 'instancelist')
    return { path: [...path, name], at: 'key', message: `instance id "${name}" is not an integer`, expected: 'an integer from 0 to 99999', hint: 'instance ids are integers, e.g. `1:`' };
  if (parent === 'daemonlist')
    return { path: [...path, name], at: 'key', message: `server name "${name}" is not usable`, expected: 'letters, digits, "_", "-", "." (at most 32, starting with a letter or digit)' };
  // A varlist name as a %NAME% placeholder reads it (model/vars.ts): shorter, or from a digit, nothing would ever use it.
  return { path: [...path, name], at: 'key', message: `key "${name}" is not usable`, expected: 'two or more letters, digits and "_", not starting with a digit, optionally inside %…%' };
}

function knownKeys(schema: unknown): string[] {
  const props = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props) : [];
}

/** An unknown key that may be a misspelt secret (`pks`, `sshpas`, `password`): its value is not shown; any other is, to help fix it. */
function mayBeSecret(key: string): boolean {
  return /pass|psk|pks|secret|token|pwd|key/i.test(key) || closest(key, [...SECRET_KEYS]) !== undefined;
}

/** The known key closest to a misspelt one (edit distance ≤ 2), if any. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]++;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}
