// `%NAME%` placeholders from the controller's varlist. A placeholder is a
// name of two or more letters, digits or "_" (starting with a letter or "_")
// between percent signs, so shell text like `date +%Y%m%d` is left alone;
// `%%` stands for a literal percent sign.

const PLACEHOLDER = /%%|%([A-Za-z_][A-Za-z0-9_]+)%/g;

/** Normalises varlist keys: '%DIR%' and 'DIR' both become 'DIR'. */
export function normaliseVarlist(varlist: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(varlist)) out[k.replace(/^%|%$/g, '')] = String(v);
  return out;
}

/** Substitutes placeholders; returns the text and the names that are not defined. */
export function substituteVars(text: string, vars: Record<string, string>): { text: string; undefinedNames: string[] } {
  const undefinedNames: string[] = [];
  const out = text.replace(PLACEHOLDER, (whole, name: string | undefined) => {
    if (name === undefined) return '%';
    if (Object.hasOwn(vars, name)) return vars[name];
    undefinedNames.push(name);
    return whole;
  });
  return { text: out, undefinedNames };
}
