// YAML documents with their source positions, and a collector of errors that
// point back into them (file:line:col and the key path), so every problem in
// the input is reported at once before anything runs.
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { constructFromEvents, EVENT_ID, parseEvents } from 'js-yaml';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, YAMLParseError, type Document, type Node } from 'yaml';
import { InputErrors, MyikeError, type SourceLocation } from '../errors.js';

export type KeyPath = (string | number)[];

export interface SourceDoc {
  file: string; // as the user named it (relative paths stay relative in messages)
  text: string;
  /** Read, and parsed without a YAML error. */
  ok: boolean;
  data: unknown; // plain JS value of the document (null when unusable)
  /** yaml's document, for source positions (null when unreadable); parsed when first asked for. */
  readonly doc: Document | null;
  readonly lines: LineCounter;
}

export interface Problem {
  message: string;
  expected?: string;
  hint?: string;
  /**
   * Point at the key itself (unknown keys), its value (default; a block
   * mapping or list is pointed at through its key), or the mapping that
   * should hold it (missing keys).
   */
  at?: 'key' | 'value' | 'parent';
  /** The excerpt leaves out the key's value (an unknown key may be a misspelt secret). */
  hideValue?: boolean;
}

export function formatKeyPath(path: KeyPath): string {
  return path.length === 0 ? '(top level)' : path.join('.');
}

export class Diagnostics {
  readonly errors: MyikeError[] = [];
  readonly paths: KeyPath[] = []; // key path of each error, for filtering
  readonly warnings: string[] = [];

  adopt(e: MyikeError, path: KeyPath): void {
    this.errors.push(e);
    this.paths.push(path);
  }

  error(src: SourceDoc, path: KeyPath, p: Problem): void {
    this.paths.push(path);
    const location = p.at === 'parent' ? locate(src, path.slice(0, -1), 'value') : locate(src, path, p.at ?? 'value');
    const expected = p.expected ? ` (expected ${p.expected})` : '';
    this.errors.push(
      new MyikeError('E_INPUT', maskSecrets(src, `${formatKeyPath(path)}: ${p.message}${expected}`), {
        location,
        keyPath: formatKeyPath(path),
        excerpt: maskSecrets(src, lineText(src, location.line, p.hideValue)),
        hint: p.hint,
        exitCode: 2,
      }),
    );
  }

  /** An error not tied to a position in a file (e.g. a file that cannot be read). */
  fileError(file: string, message: string, hint?: string): void {
    this.paths.push([]);
    this.errors.push(new MyikeError('E_INPUT', message, { location: { file, line: 1, col: 1 }, hint, exitCode: 2 }));
  }

  warn(src: SourceDoc, path: KeyPath, message: string): void {
    const l = locate(src, path, 'value');
    this.warnings.push(`${l.file}:${l.line}:${l.col}: warning: ${formatKeyPath(path)}: ${message}`);
  }

  get ok(): boolean {
    return this.errors.length === 0;
  }

  /** Throws every collected error at once. */
  throwIfAny(): void {
    if (this.errors.length > 0) throw new InputErrors(sortErrors(this.errors));
  }
}

/** Groups errors by file (in order of first appearance), then by position. */
function sortErrors(errors: MyikeError[]): MyikeError[] {
  const fileOrder = new Map<string, number>();
  for (const e of errors) if (!fileOrder.has(e.location!.file)) fileOrder.set(e.location!.file, fileOrder.size);
  return [...errors].sort((a, b) => {
    const la = a.location!, lb = b.location!;
    return fileOrder.get(la.file)! - fileOrder.get(lb.file)! || la.line - lb.line || la.col - lb.col;
  });
}

/** A path as the user would write it: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * A file's text, its value, and yaml's positioned document made only when a
 * message needs a position: a valid input never needs one.
 */
class YamlSource implements SourceDoc {
  private positioned?: { doc: Document; lines: LineCounter };
  constructor(
    readonly file: string,
    readonly text: string,
    public ok: boolean,
    public data: unknown,
    private readonly readable: boolean,
  ) {}

  get doc(): Document | null {
    return this.readable ? this.parse().doc : null;
  }

  get lines(): LineCounter {
    return this.parse().lines;
  }

  parse(): { doc: Document; lines: LineCounter } {
    if (!this.positioned) {
      const lines = new LineCounter();
      // The yaml library's own duplicate key check (uniqueKeys) is quadratic in a map's size: 2 s for 10,000 instances.
      const doc = parseDocument(this.text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
      for (const at of duplicateKeys(doc)) doc.errors.push(new YAMLParseError([at, at + 1], 'DUPLICATE_KEY', 'Map keys must be unique'));
      doc.errors.sort((a, b) => a.pos[0] - b.pos[0]);
      this.positioned = { doc, lines };
    }
    return this.positioned;
  }
}

/**
 * The document's value by js-yaml (4x faster than yaml cold: 0.05 s instead
 * of 0.23 s for 300 instances), when the text is plain data: one document,
 * no directive, tag, anchor or alias, where the two libraries could read it
 * differently. Undefined otherwise, and on any error, which yaml then finds
 * and places.
 */
export function plainValue(text: string): { value: unknown } | undefined {
  try {
    const events = parseEvents(text, {});
    let documents = 0;
    for (const e of events) {
      if (e.type === EVENT_ID.DOCUMENT) {
        if (++documents > 1 || e.directives.length > 0) return undefined;
      } else if (e.type === EVENT_ID.ALIAS) return undefined;
      else if (e.type !== EVENT_ID.POP && (e.anchorStart !== -1 || e.tagStart !== -1)) return undefined;
    }
    return documents === 1 ? { value: constructFromEvents(events, { source: text })[0] } : undefined;
  } catch {
    return undefined;
  }
}

/** A path's stat (none: nothing there), or why the path itself is unusable (stat throws for these). */
export function statPath(path: string): { stat?: Stats; problem?: string } {
  try {
    return { stat: statSync(path, { throwIfNoEntry: false }) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENAMETOOLONG') return { problem: 'the path is too long' };
    if (code === 'ERR_INVALID_ARG_VALUE') return { problem: 'the path contains a NUL character' };
    return { problem: `the path cannot be looked up (${code ?? (err as Error).message})` };
  }
}

/** Reads and parses a YAML file, recording read and syntax errors. */
export function readYaml(file: string, diag: Diagnostics): SourceDoc {
  if (file === '') {
    // An empty argument (`validate ""`, a variable that was not set) is no file at all.
    diag.fileError('(no file)', 'an empty file name was given', 'give the path of the YAML file');
    return new YamlSource(file, '', false, null, false);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    diag.fileError(
      file,
      code === 'ENOENT' ? `file not found: ${file}` : code === 'EISDIR' ? `${file} is a directory (expected a YAML file)` : `cannot read ${file}: ${(err as Error).message}`,
      // Only a path from the command line gets here (a recipe's setup paths are checked where they are written).
      code === 'ENOENT'
        ? `check the path${isAbsolute(file) ? '' : ` (relative to the current directory, ${process.cwd()})`}`
        : code === 'EISDIR'
          ? 'give the path of the YAML file, not of its directory'
          : 'check the file\'s permissions',
    );
    return new YamlSource(file, '', false, null, false);
  }
  // A UTF-16 file (some editors' "Unicode") or a binary would read as garbage: "not a mapping of keys".
  if (!isUtf8(bytes) || bytes.includes(0)) {
    const utf16 = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff) || bytes[0] === 0 || bytes[1] === 0);
    diag.fileError(file, `${file} is not UTF-8 text${utf16 ? ' (it looks like UTF-16)' : ''}`, 'save it as UTF-8 (YAML is text; `file FILE` tells what it is)');
    return new YamlSource(file, '', false, null, false);
  }
  const text = bytes.toString('utf8');
  const plain = plainValue(text);
  if (plain) return new YamlSource(file, text, true, plain.value, true);
  const src = new YamlSource(file, text, false, null, true);
  const { doc, lines } = src.parse();
  const reportedLines = new Set<number>();
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    if (reportedLines.has(pos.line)) continue; // one syntax error per line is enough
    reportedLines.add(pos.line);
    const what =
      e.code === 'DUPLICATE_KEY'
        ? 'duplicate key (each key, and each instance id, may appear once)'
        : e.code === 'MULTIPLE_DOCS'
          ? 'a second document (after "---"): a file holds one'
          : e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    diag.adopt(
      new MyikeError('E_INPUT', `YAML: ${what}`, {
        location: { file, line: pos.line, col: pos.col },
        excerpt: lineText(src, pos.line),
        hint: e.code === 'DUPLICATE_KEY' ? 'remove or rename the repeated key' : e.code === 'MULTIPLE_DOCS' ? 'remove the "---" line and what follows it' : 'fix the YAML syntax (indentation, quotes, colons)',
        exitCode: 2,
      }),
      [],
    );
  }
  if (doc.errors.length === 0) {
    try {
      src.data = doc.toJS({ maxAliasCount: 100 });
      src.ok = true;
    } catch (err) {
      // yaml finds an alias used before its anchor, or expanding past maxAliasCount, only when it builds the value.
      const message = (err as Error).message;
      const name = /^Unresolved alias.*: (\S+)$/.exec(message)?.[1];
      const offset = aliasOffset(doc, name);
      const pos = lines.linePos(offset);
      diag.adopt(
        new MyikeError('E_INPUT', `YAML: ${message}`, {
          location: { file, line: pos.line, col: pos.col },
          excerpt: lineText(src, pos.line),
          hint: name ? `define the anchor &${name} before its aliases *${name}` : 'use fewer aliases (at most 100 expansions in a file)',
          exitCode: 2,
        }),
        [],
      );
    }
  }
  return src;
}

/** Where the first alias (of that name, if given) is. */
function aliasOffset(doc: Document, name?: string): number {
  let offset = 0;
  visit(doc, {
    Alias(_, alias) {
      if (name !== undefined && alias.source !== name) return;
      offset = alias.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}

/** Offsets of every key that repeats an earlier key of its map (compared as text: `1` and `'1'` are one instance id). */
function duplicateKeys(doc: Document): number[] {
  const found: number[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (seen.has(key)) found.push(pair.key.range?.[0] ?? 0);
        seen.add(key);
      }
    },
  });
  return found;
}

/** Keys whose values are secrets: no excerpt shows them. */
export const SECRET_KEYS = new Set(['psk', 'sshpass']);
const SECRET_ON_LINE = /(["']?\b(?:psk|sshpass)["']?[ \t]*:).*$/;
const MASK = '<secret>';

/**
 * Text with the file's secret values left out wherever they are: a value
 * reached through an alias (`mgmtaddrprefix: *pass`) or copied under another
 * key is quoted by messages about that key. Values under 4 characters stay,
 * or every such word would go.
 */
function maskSecrets<T extends string | undefined>(src: SourceDoc, text: T): T {
  if (text === undefined || src.data === null || typeof src.data !== 'object') return text;
  let values = secretsOf.get(src.data);
  if (!values) secretsOf.set(src.data, (values = secretValues(src.data, false, new Set())));
  return values.reduce<string>((t, v) => t.split(v).join(MASK), text) as T;
}

const secretsOf = new WeakMap<object, string[]>();

function secretValues(data: unknown, underSecret: boolean, seen: Set<object>): string[] {
  if (data === null || typeof data !== 'object') return underSecret && String(data).length >= 4 ? [String(data)] : [];
  if (seen.has(data)) return []; // an alias of its own ancestor
  seen.add(data);
  return Object.entries(data).flatMap(([k, v]) => secretValues(v, underSecret || SECRET_KEYS.has(k), seen));
}

/** A source line for a message, with secret values (and with hideValue, the value after the key) left out. */
function lineText(src: SourceDoc, line: number, hideValue = false): string | undefined {
  const text = src.text.split('\n')[line - 1];
  if (text === undefined) return undefined;
  if (src.doc && insideSecret(src.doc, src.lines.lineStarts[line - 1])) return text.replace(/\S.*/, MASK);
  const masked = text.replace(/\r$/, '').replace(SECRET_ON_LINE, `$1 ${MASK}`);
  return hideValue ? masked.replace(/^(\s*(?:-\s+)?[^:]*:).*$/, `$1 ${MASK}`) : masked;
}

/** Does offset lie in a line of a secret key's value that spans several lines (a block scalar, a list)? */
function insideSecret(doc: Document, offset: number): boolean {
  let inside = false;
  visit(doc, {
    Pair(_, pair) {
      const range = (pair.value as Node | null)?.range;
      if (isScalar(pair.key) && SECRET_KEYS.has(String(pair.key.value)) && range && offset > range[0] && offset < range[2]) inside = true;
    },
  });
  return inside;
}

/** Finds the node at a key path; falls back to the deepest existing ancestor. */
export function locate(src: SourceDoc, path: KeyPath, at: 'key' | 'value'): SourceLocation {
  let node: unknown = src.doc?.contents ?? null;
  let best: { range?: [number, number, number] | null } | null = (node as Node) ?? null;
  for (let i = 0; i < path.length && node; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      if (last && at === 'key') {
        best = pair.key as Node;
        break;
      }
      node = pair.value;
      const block = (isMap(node) || isSeq(node)) && !node.flow;
      best = block || !pair.value ? (pair.key as Node) : (pair.value as Node);
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (!item) break;
      node = item;
      best = item as Node;
    } else break;
  }
  const offset = best?.range?.[0] ?? 0;
  const { line, col } = src.lines.linePos(offset);
  return { file: src.file, line, col };
}

/** Hash of a file's text: a run records its recipe's, so `teardown RECIPE` of the same file needs no parsing. */
export function textSha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
