// The key reference in the README, generated from the JSON Schemas so it
// cannot drift from what the validator enforces.
import { loadSchema, type SchemaKind } from './schema.js';

type Schema = {
  description?: string;
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  $ref?: string;
  definitions?: Record<string, Schema>;
};

const TITLES: Record<SchemaKind, string> = {
  controller: 'Controller config (`-c CONFIG`)',
  recipe: 'Recipe',
  setup: 'Engine setup file (`myikev2 exec -f SETUP`)',
};

export function referenceMarkdown(): string {
  return (['controller', 'recipe', 'setup'] as SchemaKind[]).map((k) => section(k)).join('\n');
}

function section(kind: SchemaKind): string {
  const root = loadSchema(kind) as Schema;
  const rows: string[] = [];
  walk(root, root, '', rows);
  return [
    `### ${TITLES[kind]}`,
    '',
    `${root.description ?? ''} Schema: \`schemas/${kind}.schema.json\`.`,
    '',
    '| key | type | default | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

function deref(root: Schema, s: Schema): Schema {
  if (!s.$ref) return s;
  const name = s.$ref.replace('#/definitions/', '');
  return root.definitions![name];
}

function walk(root: Schema, schema: Schema, prefix: string, rows: string[]): void {
  const s = deref(root, schema);
  for (const [key, raw] of Object.entries(s.properties ?? {})) {
    const p = deref(root, raw);
    const path = prefix + key;
    const required = s.required?.includes(key) ? ' (required)' : '';
    rows.push(`| \`${path}\` | ${typeOf(p)} | ${p.default === undefined ? '' : `\`${JSON.stringify(p.default)}\``} | ${(p.description ?? '').replace(/\|/g, '\\|')}${required} |`);
    if (p.properties) walk(root, p, `${path}.`, rows);
    if (p.items && deref(root, p.items).properties) walk(root, p.items, `${path}[].`, rows);
    if (typeof p.additionalProperties === 'object') walk(root, p.additionalProperties, `${path}.NAME.`, rows);
  }
}

function typeOf(s: Schema): string {
  if (s.enum) return s.enum.map((v) => `\`${v}\``).join(' \\| ');
  const t = Array.isArray(s.type) ? s.type.join(' or ') : (s.type ?? 'object');
  return t === 'array' && s.items ? `list of ${typeOf(s.items)}` : t;
}
